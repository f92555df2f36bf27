"""SCPI instruments over VISA: the instrument base, the model dialects and the DAQ."""
