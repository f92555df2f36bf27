"""The physics: the network (topology, Kirchhoff solve) and the learning rules, with the
public compiled kernels the emulator and the batched trainer share."""
