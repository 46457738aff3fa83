# The seed workflow's recipes as thin wrappers over the `zkopml` CLI (`just --list`).
# Typical session: just setup-network && just deploy && just register &&
#   (just submit-defect 3 &) && (just verify &) && just request
# `just` itself is installed by scripts/install-toolchain.sh as .tools/bin/just.
# Variables can be set per call: `just protocol=3 register`, `just zkopml=target/debug/zkopml ...`.

zkopml := "target/release/zkopml"
model := "testdata/lenet5/model.onnx"
input := "testdata/lenet5/input.json"
port := "8545"
# Market version: 4 (the template library: no per-model keys) or 3 (per-model step keys).
protocol := env_var_or_default("ZKOPML_PROTOCOL", "4")
# Protocol 4 lies at a template operator (`--defect-at`), protocol 3 at a step (`--defect`).
defect_flag := if protocol == "4" { "--defect-at" } else { "--defect" }

# Install the pinned Ethereum toolchain (forge/anvil/cast, solc) and build the CLI.
setup-network:
    bash scripts/install-toolchain.sh
    cargo build --release -p zkopml

# Start anvil, fund the actors and deploy the contracts (writes .devnet/devnet.json).
deploy:
    {{zkopml}} devnet up --port {{port}}

# Stop the devnet's anvil.
down:
    {{zkopml}} devnet down

# Register a model: compile, store by CID, register (protocol 3 also sets up its step keys).
register model=model *flags="":
    {{zkopml}} register --protocol {{protocol}} --model {{model}} {{flags}}

# Request an inference of registered model `id` (the first registered model is 1).
request id="1" input=input:
    {{zkopml}} request --protocol {{protocol}} --model-id {{id}} --input {{input}}

# Run the honest submitter agent until its responses are settled.
submit:
    {{zkopml}} submit --protocol {{protocol}} --until-idle

# Run a submitter that lies at `step` (a template operator under protocol 4, a step under 3;
# test actor).
submit-defect step:
    {{zkopml}} submit --protocol {{protocol}} {{defect_flag}} {{step}} --until-idle

# Run a challenger agent: re-execute every response and dispute the wrong ones.
verify role="challenger1":
    {{zkopml}} challenge --protocol {{protocol}} --role {{role}} --until-idle

# The whole story in one command (README's first command).
demo *flags="":
    bash scripts/demo.sh {{flags}}

# Every test (README's second command).
test:
    bash scripts/test.sh
