"""Assignment 2: saving the network, and coming back. See assignments/assignment_02/README.md."""
