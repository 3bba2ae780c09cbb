"""``python -m roipool.polygraphy`` prints the data loader script's path."""

from roipool.polygraphy import DATA_LOADER_SCRIPT

print(DATA_LOADER_SCRIPT)
