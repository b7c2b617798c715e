"""Gradient checking and the op-authoring harness: ``check_op`` runs every check an op must pass."""

from .check_op import Failure, OpCheckError, OpReport, check_op, check_ops, summary
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .samples import sample_inputs

__all__ = ["Failure", "GradcheckError", "OpCheckError", "OpReport", "check_op", "check_ops", "gradcheck",
           "gradgradcheck", "sample_inputs", "summary"]
