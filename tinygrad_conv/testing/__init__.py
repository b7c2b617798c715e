"""Gradient checking and the op-authoring harness."""

from .check_op import OpCheckError, OpReport, check_op, check_ops
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["GradcheckError", "OpCheckError", "OpReport", "check_op", "check_ops", "gradcheck",
           "gradgradcheck"]
