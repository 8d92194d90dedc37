"""Your code: one package per assignment (assignment_NN). See README.md."""
