"""Names shared by the grader, its runner process and the harness inside the kernel."""

CELL_FILE = "current_cell"  # in the answer folder: the position of the cell now running
CASES_FILE = "cases.pt"  # in the state folder: {exercise id: grading cases}, read once, deleted
POSITION = "course_grader_position"  # cell metadata: 1-based position in the submission
