//! `zkopml ceremony`: the template library's Groth16 phase 2, one subcommand per step a
//! deployment runs (`crates/ceremony/README.md`). Parsing and printing only.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use zkopml_ceremony::files;
use zkopml_prover::templates::GateTemplate;
use zkopml_prover::templates::{ArgMaxMarkTemplate, GatherIndexTemplate};
use zkopml_prover::templates::{
    AvgTemplate, BinaryTemplate, ClipTemplate, ConvBlockTemplate, ErfTemplate, GapBlockTemplate,
    GatherTemplate, GemmBlockTemplate, GroupBlockTemplate, LogicTemplate, MatMulBlockTemplate,
    PoolBlockTemplate, RescaleTemplate, SoftmaxExpTemplate, SoftmaxFinishTemplate, Template,
    UnaryTemplate, TEMPLATES,
};
use zkopml_prover::templates::{DivTemplate, PowTemplate, SqrtTemplate, SqrtWideTemplate};
use zkopml_prover::templates::{LayerNormFinishTemplate, LayerNormStatsTemplate};

/// One step of the ceremony.
#[derive(Subcommand, Debug)]
pub(crate) enum CeremonyCmd {
    /// Coordinator: the keys a template's phase 2 starts from, derived from a `.ptau`
    /// (snarkjs / Perpetual Powers of Tau format), and an empty transcript.
    Init(InitArgs),
    /// A participant: multiply in a fresh secret; appends to the transcript.
    Contribute(ContributeArgs),
    /// Anyone: check every contribution from the `.ptau` to the final keys.
    Verify(VerifyArgs),
    /// The final proving key, verifying key and the verifying key for the EVM verifier.
    Export(ExportArgs),
    /// The template names.
    Templates,
}

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Template name (`zkopml ceremony templates`).
    #[arg(long)]
    template: String,
    /// Phase-1 powers of tau, big enough for the template's domain.
    #[arg(long)]
    ptau: PathBuf,
    /// Where to write the initial keys.
    #[arg(long)]
    keys: PathBuf,
    /// Where to write the transcript.
    #[arg(long)]
    transcript: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct ContributeArgs {
    /// The latest keys.
    #[arg(long)]
    keys_in: PathBuf,
    /// The transcript (updated in place).
    #[arg(long)]
    transcript: PathBuf,
    /// Where to write the new keys.
    #[arg(long)]
    keys_out: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Template name.
    #[arg(long)]
    template: String,
    /// The phase-1 file the ceremony started from.
    #[arg(long)]
    ptau: PathBuf,
    /// The final keys.
    #[arg(long)]
    keys: PathBuf,
    /// The transcript.
    #[arg(long)]
    transcript: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The final keys.
    #[arg(long)]
    keys: PathBuf,
    /// Proving key output (compressed).
    #[arg(long)]
    pk: PathBuf,
    /// Verifying key output (compressed).
    #[arg(long)]
    vk: PathBuf,
    /// Verifying key for the EVM verifier (JSON).
    #[arg(long)]
    vk_json: Option<PathBuf>,
}

/// A template name the library does not have (bad input: exit code 2).
#[derive(Debug)]
pub(crate) struct UnknownTemplate(pub(crate) String);

impl std::fmt::Display for UnknownTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown template `{}` (known: {})",
            self.0,
            TEMPLATES.join(", ")
        )
    }
}

impl std::error::Error for UnknownTemplate {}

fn print<T: Serialize + std::fmt::Debug>(v: &T, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        println!("{v:#?}");
    }
    Ok(())
}

/// Calls `$f::<T>` for the template named `$name`.
macro_rules! by_template {
    ($name:expr, $f:ident ( $($arg:expr),* )) => {
        match $name {
            ClipTemplate::NAME => files::$f::<ClipTemplate>($($arg),*),
            BinaryTemplate::NAME => files::$f::<BinaryTemplate>($($arg),*),
            GemmBlockTemplate::NAME => files::$f::<GemmBlockTemplate>($($arg),*),
            RescaleTemplate::NAME => files::$f::<RescaleTemplate>($($arg),*),
            ConvBlockTemplate::NAME => files::$f::<ConvBlockTemplate>($($arg),*),
            PoolBlockTemplate::NAME => files::$f::<PoolBlockTemplate>($($arg),*),
            GapBlockTemplate::NAME => files::$f::<GapBlockTemplate>($($arg),*),
            AvgTemplate::NAME => files::$f::<AvgTemplate>($($arg),*),
            UnaryTemplate::NAME => files::$f::<UnaryTemplate>($($arg),*),
            ErfTemplate::NAME => files::$f::<ErfTemplate>($($arg),*),
            GatherTemplate::NAME => files::$f::<GatherTemplate>($($arg),*),
            LogicTemplate::NAME => files::$f::<LogicTemplate>($($arg),*),
            GroupBlockTemplate::NAME => files::$f::<GroupBlockTemplate>($($arg),*),
            SoftmaxExpTemplate::NAME => files::$f::<SoftmaxExpTemplate>($($arg),*),
            SoftmaxFinishTemplate::NAME => files::$f::<SoftmaxFinishTemplate>($($arg),*),
            MatMulBlockTemplate::NAME => files::$f::<MatMulBlockTemplate>($($arg),*),
            GatherIndexTemplate::NAME => files::$f::<GatherIndexTemplate>($($arg),*),
            ArgMaxMarkTemplate::NAME => files::$f::<ArgMaxMarkTemplate>($($arg),*),
            DivTemplate::NAME => files::$f::<DivTemplate>($($arg),*),
            SqrtTemplate::NAME => files::$f::<SqrtTemplate>($($arg),*),
            PowTemplate::NAME => files::$f::<PowTemplate>($($arg),*),
            SqrtWideTemplate::NAME => files::$f::<SqrtWideTemplate>($($arg),*),
            LayerNormStatsTemplate::NAME => files::$f::<LayerNormStatsTemplate>($($arg),*),
            LayerNormFinishTemplate::NAME => files::$f::<LayerNormFinishTemplate>($($arg),*),
            GateTemplate::NAME => files::$f::<GateTemplate>($($arg),*),
            other => return Err(UnknownTemplate(other.to_string()).into()),
        }
    };
}

pub(crate) fn ceremony(c: CeremonyCmd, json: bool) -> anyhow::Result<()> {
    match c {
        CeremonyCmd::Init(a) => {
            let s = by_template!(a.template.as_str(), init(&a.ptau, &a.keys, &a.transcript))?;
            print(&s, json)
        }
        CeremonyCmd::Contribute(a) => {
            let s = files::contribute(
                &a.keys_in,
                &a.transcript,
                &a.keys_out,
                &mut rand::rngs::OsRng,
            )?;
            print(&s, json)
        }
        CeremonyCmd::Verify(a) => {
            let s = by_template!(a.template.as_str(), verify(&a.ptau, &a.keys, &a.transcript))?;
            print(&s, json)
        }
        CeremonyCmd::Export(a) => {
            files::export(&a.keys, &a.pk, &a.vk, a.vk_json.as_deref())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"pk": a.pk, "vk": a.vk, "vk_json": a.vk_json})
                );
            } else {
                println!("wrote {} and {}", a.pk.display(), a.vk.display());
            }
            Ok(())
        }
        CeremonyCmd::Templates => {
            if json {
                println!("{}", serde_json::to_string(&TEMPLATES)?);
            } else {
                TEMPLATES.iter().for_each(|t| println!("{t}"));
            }
            Ok(())
        }
    }
}
