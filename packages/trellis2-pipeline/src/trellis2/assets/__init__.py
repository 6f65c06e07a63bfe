"""Package data: the bundled CC0 environment maps (`hdri/*.exr`, licence in `hdri/LICENSE.txt`)."""
