"""Pure array kernels: window views, im2col/col2im, dilation, padding, pool windows.

They take and return arrays and know nothing of Tensor or the tape.
"""
