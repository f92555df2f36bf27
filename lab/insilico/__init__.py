"""In-silico studies: batched training (`batch`), sweeps and the paper reproductions."""
