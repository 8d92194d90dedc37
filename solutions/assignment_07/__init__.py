"""Assignment 7: learning-rate warmup. See assignments/assignment_07/README.md."""
