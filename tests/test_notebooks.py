"""The Colab notebooks: every notebooks/*.ipynb runs top to bottom in quick mode, the
committed files are what notebooks/build_notebooks.py generates, and each "Open in Colab"
badge points at its own notebook in the course's repository.

Execution uses COURSE_QUICK=1 (tiny runs on synthetic data) and COURSE_IMPL=solutions (so
the warmup runs and the grader exercise the reference), with run folders in a temporary
directory (COURSE_RUNS), never in the repository. In the student copy, which has no
solutions/, those runs skip (saying so); the runs on the untouched stubs still run.

Every notebook clones the repository that assets/course_repo.txt names (the student
repository, never the instructors'), and installs its own assignment's requirements file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))
COURSE_REPO = REPO / "assets" / "course_repo.txt"
needs_solutions = pytest.mark.skipif(
    not (REPO / "solutions").is_dir(),
    reason=f"needs the reference solutions in {REPO / 'solutions'}, which the student copy does not have",
)
CELL_TIMEOUT_S = 300
BADGE = re.compile(r"https://colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/([^/\s)]+)/([^\s)]+)")
# What a notebook's output must show, beyond "no cell raised": (regex, how many times) over
# all its cells' printed output, on the reference (solutions) and on the untouched stub.
ON_SOLUTIONS = {
    "assignment_01.ipynb": [
        (r"BetterCNN  output \(2, 10\), [\d,]+ parameters", 2),  # 1x28x28 and 3x32x32
        (r"BetterCNN  val_acc per epoch: \d", 1),
    ],
    "assignment_02.ipynb": [
        (r"(?m)^last\.pt ", 1),  # the checkpoints folder's listing
        (r"(?m)^best\.pt ", 1),
        (r"resumed from \S+last\.pt: epoch 2,", 1),  # the second launch, and not the --reset one
        (r"test acc \d+\.\d+%", 1),  # evaluate.py
        (r"predicted class \d", 1),  # predict.py
        (r"refused, as it should be: refused to load \S+a02-malicious\.pt", 1),
        (r"(?m)^pwned$", 0),  # the malicious file's payload never ran
    ],
}
ON_THE_STUB = {
    "assignment_01.ipynb": [
        (r"BetterCNN  not implemented yet: A1: implement BetterCNN", 2),
        (r"Nothing to compare yet", 1),
    ],
    "assignment_02.ipynb": [
        (r"not implemented yet: A2: implement load_checkpoint", 3),  # evaluate.py, predict.py, the malicious file
        (r"(?m)^pwned$", 0),
    ],
}


def load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A `python3` kernel spec that runs this very interpreter (the venv): the default spec
    says `python`, which jupyter_client maps to sys.executable, but a user-level spec of the
    same name elsewhere on the machine would take precedence and could start another Python."""
    folder = tmp_path_factory.mktemp("kernels") / "python3"
    folder.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (tests)", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(folder.parent)])


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    runs: Path,
    specs: KernelSpecManager,
    impl: str = "solutions",
    extra_env: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Run every cell of `nb` in a fresh kernel; a cell that raises fails the test."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTEST_CURRENT_TEST")}
    env.update(COURSE_QUICK="1", COURSE_IMPL=impl, COURSE_RUNS=str(runs), **(extra_env or {}))
    # One thread per process: the quick runs are tiny, and on two shared cores OpenMP's
    # spinning threads made each one ~4x slower (measured: 16 s instead of 4 s per run).
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # First, a cell that proves the kernel is the interpreter running these tests.
    python = os.path.realpath(sys.executable)
    probe = nbformat.v4.new_code_cell(f"import os, sys\nassert os.path.realpath(sys.executable) == {python!r}")
    nb.cells.insert(0, probe)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    nb.cells.pop(0)
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def images_in(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def check_output(nb, expected: list[tuple[str, int]]) -> None:
    out = "".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    for pattern, times in expected:
        found = len(re.findall(pattern, out))
        assert found == times, f"expected {times} x {pattern!r} in the output, found {found}:\n{out[-4000:]}"


@pytest.mark.slow
@needs_solutions
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path, kernel_specs):
    """From notebooks/ (Jupyter's working directory for a notebook): no cell raises, every
    `!` training run finishes, every `!` grader run passes on the reference, plots render,
    and the output shows what the notebook demonstrates (ON_SOLUTIONS)."""
    runs = tmp_path / "runs"
    nb = execute(nbformat.read(path, as_version=4), NOTEBOOKS, runs, kernel_specs)
    for cell in (c for c in nb.cells if c.cell_type == "code"):  # `!` commands never raise: check their output
        out = text_of(cell)
        if "starter/train.py" in cell.source:
            trainings = cell.source.count("starter/train.py")
            assert out.count("done: best val_acc") == trainings, f"a training run failed:\n{out[-3000:]}"
        if "-m pytest autograder" in cell.source:
            assert re.search(r"\d+ passed", out) and not re.search(r"\d+ (failed|error)", out), out[-3000:]
    if any("plt.show()" in c.source for c in nb.cells):
        assert images_in(nb) >= 1, "no plot was drawn"
    check_output(nb, ON_SOLUTIONS.get(path.name, []))
    assert runs.is_dir() and any(runs.iterdir()), "the runs did not go to COURSE_RUNS"


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("assignment_*.ipynb")), ids=lambda p: p.name)
def test_assignment_notebook_runs_on_the_untouched_stub(path: Path, tmp_path: Path, kernel_specs):
    """A student's first run, on assignments/ as shipped: the stub's NotImplementedError is
    reported, the plots that need it are skipped, the grader reports failures, and no
    cell raises (ON_THE_STUB)."""
    nb = execute(nbformat.read(path, as_version=4), NOTEBOOKS, tmp_path / "runs", kernel_specs, impl="assignments")
    graded = [text_of(c) for c in nb.cells if c.cell_type == "code" and "-m pytest autograder" in c.source]
    assert graded and all(re.search(r"\d+ (passed|failed)", out) for out in graded), graded
    check_output(nb, ON_THE_STUB.get(path.name, []))


def setup_cell_of(path: Path):
    nb = nbformat.read(path, as_version=4)
    return nb, next(c for c in nb.cells if c.cell_type == "code" and "REPO_URL = " in c.source)


@pytest.mark.parametrize("where", ["repo_root", "outside_a_checkout"])
def test_setup_cell_finds_or_clones_the_course(where: str, tmp_path: Path, kernel_specs):
    """The setup cell alone, from the repository root, and from a folder outside any
    checkout, where it clones REPO_URL (here: this repository, cloned locally) and moves
    into the clone. Everything is installed, so it installs nothing."""
    nb, setup = setup_cell_of(NOTEBOOK_FILES[0])
    cwd, expected = REPO, REPO
    if where == "outside_a_checkout":
        cwd, expected = tmp_path, tmp_path / REPO.name
        setup.source = re.sub(r'REPO_URL = ".*"', f"REPO_URL = {REPO.as_uri()!r}", setup.source)
    nb.cells = [setup, nbformat.v4.new_code_cell("import os\nprint('cwd:', os.getcwd())")]
    nb = execute(nb, cwd, tmp_path / "runs", kernel_specs)
    assert "installing" not in text_of(nb.cells[0]), "installed packages although everything is installed"
    assert f"cwd: {expected}\n" in text_of(nb.cells[1])
    assert (expected / "starter" / "train.py").is_file()


def test_setup_cell_shows_pips_own_error_when_the_install_fails(tmp_path: Path, kernel_specs):
    """A checkout whose requirements cannot be installed (a package that does not exist;
    PIP_NO_INDEX keeps pip off the network): the cell fails, and its output holds pip's own
    error message, not only an exit status."""
    nb, setup = setup_cell_of(REPO / "notebooks" / "assignment_07.ipynb")
    checkout = tmp_path / "course"
    for rel in ("starter/train.py", "tools/install_system_packages.sh", "requirements/system-packages.txt"):
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_text((REPO / rel).read_text())
    (checkout / "requirements/base.txt").write_text("pyyaml\nno-such-package-for-the-course==1.0\n")
    (checkout / "requirements/assignment_07.txt").write_text("-r base.txt\n")
    nb.cells = [setup]
    with pytest.raises(CellExecutionError) as failed:
        execute(nb, checkout, tmp_path / "runs", kernel_specs, extra_env={"PIP_NO_INDEX": "1"})
    out = text_of(nb.cells[1]) + str(failed.value)  # cells[0] is execute's probe, still in place
    assert "installing requirements/assignment_07.txt (no-such-package-for-the-course missing)" in out, out
    assert "ERROR: Could not find a version that satisfies the requirement no-such-package-for-the-course" in out, out
    assert "pip install -r" in out and "failed (exit 1)" in out, out


def course_repo_url() -> str:
    """assets/course_repo.txt's one URL (read here, not through the builder)."""
    urls = [line.strip() for line in COURSE_REPO.read_text().splitlines() if line.strip() and line[0] != "#"]
    assert len(urls) == 1, f"{COURSE_REPO} must hold exactly one URL, found {urls}"
    return urls[0]


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_every_notebook_clones_the_repository_in_course_repo_txt(path: Path):
    """The URL is set in one place, assets/course_repo.txt, and every setup cell clones exactly it."""
    url = course_repo_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), f"{COURSE_REPO}: not a GitHub URL: {url}"
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.findall(r"REPO_URL = (.*)", code) == [json.dumps(url)], f"{path.name} must clone {url}"
    assert "REPO_URL, str(root)]" in code, f"{path.name}'s setup cell does not clone REPO_URL"
    text = "\n".join(c.source for c in nb.cells)
    others = {u for u in re.findall(r"https://github\.com/[^\s\"')]+", text) if u != url}
    assert not others, f"{path.name} names another repository than {COURSE_REPO.name}'s: {others}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_every_notebook_installs_its_own_assignments_requirements(path: Path):
    """assignment_NN.ipynb installs requirements/assignment_NN.txt (the quick start, the base
    set), a file that exists; no notebook installs the whole requirements.txt."""
    _, setup = setup_cell_of(path)
    number = re.fullmatch(r"assignment_(\d\d)\.ipynb", path.name)
    expected = f"requirements/assignment_{number[1]}.txt" if number else "requirements/base.txt"
    assert re.findall(r'REQUIREMENTS = "(.*)"', setup.source) == [expected]
    assert (REPO / expected).is_file()
    assert not re.search(r"(?<![\w/-])requirements\.txt", setup.source), "installs the whole requirements.txt"


def test_committed_notebooks_equal_what_the_builder_generates():
    builder = load_builder()
    assert sorted(p.name for p in NOTEBOOK_FILES) == sorted(builder.NOTEBOOKS), (
        "every notebook must come from notebooks/build_notebooks.py (and each one it builds must be committed)"
    )
    for name in builder.NOTEBOOKS:
        assert (NOTEBOOKS / name).read_text(encoding="utf-8") == builder.render(name), (
            f"notebooks/{name} differs from what build_notebooks.py generates: "
            "edit the script, then run python notebooks/build_notebooks.py"
        )


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_colab_badge_opens_this_notebook_from_the_cloned_repository(path: Path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    badges = BADGE.findall(markdown)
    assert badges, f"{path.name} has no 'Open in Colab' badge"
    urls = re.findall(r'REPO_URL = "https://github\.com/([^"]+?)(?:\.git)?"', "\n".join(c.source for c in nb.cells))
    assert len(set(urls)) == 1, f"{path.name}: expected one REPO_URL in its setup cell, found {urls}"
    for repo, _branch, file in badges:
        assert file == f"notebooks/{path.name}", f"{path.name}'s badge opens {file}"
        assert repo == urls[0], f"{path.name}'s badge opens {repo}, but its setup cell clones {urls[0]}"


def test_no_notebook_is_committed_with_outputs():
    for path in NOTEBOOK_FILES:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} carries outputs"
