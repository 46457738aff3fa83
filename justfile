# The seed workflow's recipes as thin wrappers over the `zkopml` CLI (`just --list`).
# Typical session: just setup-network && just deploy && just register &&
#   (just submit-defect 3 &) && (just verify &) && just request

zkopml := "target/release/zkopml"
model := "testdata/lenet5/model.onnx"
input := "testdata/lenet5/input.json"

# Install the pinned Ethereum toolchain (forge/anvil/cast, solc) and build the CLI.
setup-network:
    bash scripts/install-toolchain.sh
    cargo build --release -p zkopml

# Start anvil, fund the actors and deploy the contracts (writes .devnet/devnet.json).
deploy:
    {{zkopml}} devnet up

# Stop the devnet's anvil.
down:
    {{zkopml}} devnet down

# Register a model: compile, store by CID, set up step keys, deploy verifiers, register.
register model=model *flags="":
    {{zkopml}} register --model {{model}} {{flags}}

# Request an inference of registered model `id` (the first registered model is 1).
request id="1" input=input:
    {{zkopml}} request --model-id {{id}} --input {{input}}

# Run the honest submitter agent until its responses are settled.
submit:
    {{zkopml}} submit --until-idle

# Run a submitter that corrupts the output of step `step` (test actor).
submit-defect step:
    {{zkopml}} submit --defect {{step}} --until-idle

# Run a challenger agent: re-execute every response and dispute the wrong ones.
verify role="challenger1":
    {{zkopml}} challenge --role {{role}} --until-idle

# The whole story in one command (README's first command).
demo *flags="":
    bash scripts/demo.sh {{flags}}

# Every test (README's second command).
test:
    bash scripts/test.sh
