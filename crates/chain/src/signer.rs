//! Where a signing key comes from: a raw private key, or an encrypted JSON keystore (Web3
//! Secret Storage, as `cast wallet import` and geth write it).

use std::path::Path;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};

use crate::{ChainError, Result};

/// The private key stored in the keystore file at `path`, decrypted with `password`, as
/// `0x`-prefixed hex (what [`crate::Chain::connect`] takes).
pub fn keystore_key(path: &Path, password: &str) -> Result<String> {
    let signer =
        PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| ChainError::Config {
            what: "keystore",
            reason: format!("{}: {e}", path.display()),
        })?;
    Ok(format!("0x{}", alloy::hex::encode(signer.to_bytes())))
}

/// The address a private key signs for.
pub fn address_of(key: &str) -> Result<Address> {
    let signer: PrivateKeySigner = key.parse().map_err(|e| ChainError::Config {
        what: "private key",
        reason: format!("{e}"),
    })?;
    Ok(signer.address())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// anvil's second test account.
    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    /// A keystore written by `cast wallet import actor --private-key KEY --unsafe-password
    /// "correct horse"` (another implementation's scrypt + AES-128-CTR file).
    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keystore-anvil1.json")
    }

    #[test]
    fn a_cast_keystore_gives_back_its_key() {
        assert_eq!(keystore_key(&fixture(), "correct horse").unwrap(), KEY);
        assert_eq!(
            address_of(KEY).unwrap(),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse::<Address>()
                .unwrap()
        );
    }

    #[test]
    fn a_wrong_password_or_a_missing_file_is_a_config_error_naming_the_file() {
        for (path, password) in [
            (fixture(), "wrong"),
            (fixture().with_file_name("missing.json"), "correct horse"),
        ] {
            let e = keystore_key(&path, password).unwrap_err();
            assert!(
                matches!(
                    e,
                    ChainError::Config {
                        what: "keystore",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        assert!(address_of("0x12").is_err());
    }
}
