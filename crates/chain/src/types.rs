//! The market's enums (`contracts/src/lib/Types.sol`) as Rust types: the ABI carries them as
//! `uint8`, so every status read from the chain goes through one of these conversions and
//! an out-of-range value is an error, never a silently wrong status.

/// A Solidity enum as a Rust enum: `TryFrom<u8>` (out of range is [`crate::ChainError::Decode`]),
/// `From<…> for u8`, its Solidity name, `Display`, serde. Used here and in [`crate::v4`].
macro_rules! contract_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value),+
        }

        impl TryFrom<u8> for $name {
            type Error = $crate::ChainError;

            fn try_from(v: u8) -> Result<Self, $crate::ChainError> {
                match v {
                    $($value => Ok(Self::$variant),)+
                    _ => Err($crate::ChainError::Decode {
                        what: stringify!($name),
                        value: v.to_string(),
                    }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> u8 {
                v as u8
            }
        }

        impl $name {
            /// The Solidity name of the value.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant)),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
pub(crate) use contract_enum;

contract_enum!(
    /// `Types.RequestStatus`: lifecycle of a request.
    RequestStatus {
        /// No such request.
        None = 0,
        /// Waiting for a response (new, or re-opened after a disproof).
        Open = 1,
        /// A response is pending.
        Responded = 2,
        /// The response was accepted and the submitter paid.
        Finalized = 3,
        /// The requester took the fee back.
        Cancelled = 4,
    }
);

contract_enum!(
    /// `Types.ResponseStatus`: lifecycle of a response.
    ResponseStatus {
        /// No such response.
        None = 0,
        /// Posted; may still be disproven.
        Pending = 1,
        /// Shown wrong.
        Disproven = 2,
        /// Accepted.
        Finalized = 3,
    }
);

contract_enum!(
    /// `Types.GamePhase`: whose move a game waits for.
    GamePhase {
        /// The submitter reveals its states at the split points.
        SubmitterReveal = 0,
        /// The challenger reveals its states at the split points.
        ChallengerReveal = 1,
        /// One step left: waiting for a leaf proof (anyone).
        Proving = 2,
        /// Over.
        Resolved = 3,
    }
);

contract_enum!(
    /// `Types.GameStatus`: outcome of a game.
    GameStatus {
        /// Not resolved yet.
        InProgress = 0,
        /// The submitter won the challenger's bond.
        SubmitterWon = 1,
        /// The response is disproven; the challenger won.
        ChallengerWon = 2,
        /// Nobody proved the leaf in time.
        BothLost = 3,
        /// Another party disproved the response first; bond refunded.
        Cancelled = 4,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_out_of_range_is_an_error() {
        for v in 0..=4u8 {
            assert_eq!(RequestStatus::try_from(v).unwrap() as u8, v);
            assert_eq!(GameStatus::try_from(v).unwrap() as u8, v);
        }
        for v in 0..=3u8 {
            assert_eq!(ResponseStatus::try_from(v).unwrap() as u8, v);
            assert_eq!(GamePhase::try_from(v).unwrap() as u8, v);
        }
        assert!(RequestStatus::try_from(5).is_err());
        assert!(ResponseStatus::try_from(4).is_err());
        assert!(GamePhase::try_from(4).is_err());
        assert!(GameStatus::try_from(9).is_err());
        assert_eq!(GameStatus::ChallengerWon.to_string(), "ChallengerWon");
    }
}
