//! The requester: quantise and store an input, post its commitment `S_0` with a fee.

use alloy_primitives::{B256, U256};
use zkopml_chain::Chain;
use zkopml_commit::fr_to_bytes32;
use zkopml_engine::Tensor;

use crate::{data::put_json, Ctx, IntTensors, Result};

/// `S_0` of a program on `inputs`: the state commitment of the live inputs.
pub fn input_commitment(program: &zkopml_engine::Program, inputs: &[Tensor]) -> Result<B256> {
    let s0 = zkopml_engine::input_commitment(program, inputs)?;
    Ok(B256::from(fr_to_bytes32(&s0)))
}

/// Posts a request for model `model_id` on quantised `inputs`, paying `fee` wei.
pub async fn request(ctx: &Ctx, model_id: U256, inputs: Vec<Tensor>, fee: U256) -> Result<U256> {
    let model = ctx.model(model_id).await?;
    let s0 = input_commitment(&model.program, &inputs)?;
    let cid = put_json(&ctx.store, &IntTensors { tensors: inputs })?;
    let (tx, receipt) = ctx
        .chain
        .send(
            "requestInference",
            ctx.chain
                .market()
                .requestInference(model_id, s0, cid)
                .value(fee),
        )
        .await?;
    let id = Chain::request_id(&receipt).expect("RequestCreated in a successful receipt");
    ctx.record_tx(format!("requestInference -> request {id}"), &tx);
    Ok(id)
}
