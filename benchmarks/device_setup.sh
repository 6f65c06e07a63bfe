#!/usr/bin/env bash
# Prepare a lent GPU machine (python 3.12 with its own torch/triton) to run our tests and benchmarks.
# Source it from the repository root: `source benchmarks/device_setup.sh`. Expects wheels of our missing runtime
# dependencies in .whl/ and a copy of shared/ (spec, parity, ...) in .gpu/shared, both carried with the call.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
ln -sfn "$PWD/.gpu/shared" ../shared
for package in sparsetensor meshkit ovoxel trellis2-models trellis2-pipeline; do
  python3 -m pip install -q --no-build-isolation --no-deps -e "packages/$package" > "/tmp/install-$package.log" 2>&1 \
    || { echo "install of $package failed:"; tail -20 "/tmp/install-$package.log"; }
done
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name(0))"
set +e
