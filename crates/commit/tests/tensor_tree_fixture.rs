//! The chunk tree agrees with the contract's `LibTensorTree` and with an independent
//! circomlib Poseidon (poseidon-lite): `contracts/test/fixtures/tensor_tree.json` is written
//! by `gen_tensor_tree.mjs` from poseidon-lite, and the forge tests check the same file.

use std::str::FromStr;

use serde_json::Value;
use zkopml_commit::{chunked_commitment_of, poseidon_t3, ChunkTree, Fr};

fn fr(v: &Value) -> Fr {
    Fr::from_str(v.as_str().expect("decimal string")).expect("field element")
}

#[test]
fn rust_tree_matches_the_contract_fixture() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/test/fixtures/tensor_tree.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for v in doc["poseidon_t3"].as_array().unwrap() {
        let i = v["inputs"].as_array().unwrap();
        assert_eq!(poseidon_t3(fr(&i[0]), fr(&i[1])), fr(&v["output"]));
    }
    let trees = doc["trees"].as_array().unwrap();
    assert!(trees.len() >= 5);
    for t in trees {
        let leaves: Vec<Fr> = t["leaves"].as_array().unwrap().iter().map(fr).collect();
        let tree = ChunkTree::from_leaves(leaves.clone());
        assert_eq!(tree.root(), fr(&t["root"]), "chunks {}", t["chunks"]);
        assert_eq!(tree.depth().to_string(), t["depth"].as_str().unwrap());
        assert_eq!(
            chunked_commitment_of(fr(&t["header"]), tree.root()),
            fr(&t["commitment"])
        );
        for (i, proof) in t["proofs"].as_array().unwrap().iter().enumerate() {
            let siblings: Vec<Fr> = proof.as_array().unwrap().iter().map(fr).collect();
            assert_eq!(tree.prove(i).unwrap(), siblings, "index {i}");
            let leaf = leaves.get(i).copied().unwrap_or_default();
            assert!(ChunkTree::verify(
                tree.root(),
                tree.depth(),
                i,
                leaf,
                &siblings
            ));
        }
    }
}
