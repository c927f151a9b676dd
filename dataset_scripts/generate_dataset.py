"""Generate the SynthForge dataset: the same job as `synthforge make-dataset`.

python dataset_scripts/generate_dataset.py --out outputs/synthforge-faces --limit 64
accelerate launch dataset_scripts/generate_dataset.py --out /data/faces --device cuda  # many GPUs
python dataset_scripts/generate_dataset.py --out /data/faces --shards 0:50   # this machine's shards
"""

import sys

from synthforge_hf.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["make-dataset", *sys.argv[1:]]))
