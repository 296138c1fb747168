"""The README's Python example runs as written and does what it says; its command lines are the command's, the files
it names exist, its gallery figures are the index's and the files', and bench/README.md's options the scripts'."""

import re
import shlex

from support import REPO

README = REPO / "README.md"


def test_python_api_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("(11, 11)")
    assert "nonconvex_share" in out
    assert (tmp_path / "demo.h5").exists() and (tmp_path / "demo.dirs.h5").exists()


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S).group(1).splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "run"], ["make", "test"]]
    makefile = (README.parent / "Makefile").read_text()
    assert re.search(r"^run:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def readme_command_lines() -> list[list[str]]:
    """Each ``lossatlas ...`` line of the README's shell blocks as words (continuations joined, comments and
    environment assignments dropped); lines with placeholders (``...``, ``[--option]``) left out."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words[:1] == ["lossatlas"] and not any(w == "..." or w.startswith("[") for w in words):
                lines.append(words)
    return lines


def test_readme_command_lines_parse():
    from server.cli import build_parser
    from workers.cli import _join_axis_values

    lines = readme_command_lines()
    commands = {words[1] for words in lines}
    assert {"compute", "train", "gallery", "serve", "worker", "plot", "export"} <= commands
    parser = build_parser()
    for words in lines:
        parser.parse_args(_join_axis_values(words[1:]))  # an unknown option or value exits


def test_readme_train_runs_do_not_share_a_directory():
    """Followed in order, a second run with other settings into the same --out would be refused."""
    runs: dict[str, list[str]] = {}
    for words in readme_command_lines():
        if words[1] == "train":
            out = words[words.index("--out") + 1]
            assert runs.setdefault(out, words) == words, f"two different runs train into {out}"


def option_strings(words: list[str]) -> tuple[str, set[str]]:
    """The (sub)command a README line runs, as words, and the options it accepts."""
    from server.cli import build_parser

    parser, name = build_parser(), "lossatlas"
    for word in words[1:]:
        subs = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]  # argparse's subparsers
        if not subs or word not in subs[0].choices:
            break
        parser, name = subs[0].choices[word], f"{name} {word}"
    return name, set(parser._option_string_actions)


def test_readme_options_exist_in_every_command_line():
    """Lines with placeholders (``lossatlas compute ... --ray``) and optional groups are not parsed whole;
    their options must still be the command's own."""
    text = README.read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = [w.strip("[]") for w in shlex.split(line, comments=True) if not re.match(r"^[A-Z_]+=", w)]
            if words[:1] != ["lossatlas"]:
                continue
            name, options = option_strings(words)
            for word in words:
                if word.startswith("--"):
                    assert word.split("=")[0] in options, f"{name} has no option {word} (README: {line.strip()})"


def test_readme_plot_and_export_lines_run(tmp_path, monkeypatch, capsys):
    """Each ``lossatlas plot`` and ``export`` line, run on small surfaces under the names it gives (1-D where the
    README computes that file without --y): options that parse one by one can still be refused together (the
    overlay example's --cmap was)."""
    import numpy as np
    import pytest

    pytest.importorskip("matplotlib")
    from server.cli import main
    from workers.cli import _join_axis_values
    from workers.h5io import Surface, write_surface

    lines = readme_command_lines()
    one_d = {w[w.index("--out") + 1] for w in lines if w[1] == "compute" and "--y" not in w and "--out" in w}
    runs = [w for w in lines if w[1] in ("plot", "export")]
    assert {w[1] for w in runs} == {"plot", "export"}
    monkeypatch.chdir(tmp_path)
    xs = np.linspace(-1, 1, 9)
    for name in {w for words in runs for w in words if w.endswith(".h5")}:
        ys = None if name in one_d else np.linspace(-1, 1, 7)
        z = 1 + xs**2 if ys is None else 1 + xs[None, :] ** 2 + 2 * ys[:, None] ** 2
        metrics = {"train_loss": z, "train_acc": 100 - 10 * z}
        write_surface(tmp_path / name, Surface(xs, ys, metrics, np.ones(z.shape, bool), {"spec": {"model": name}}))
    for words in runs:
        assert main(_join_axis_values(words[1:])) == 0, " ".join(words)
    made = capsys.readouterr().err
    figures = [w[w.index("--out") + 1] for w in runs if w[1] == "plot"]
    assert figures and all(f"-> {f}\n" in made and (tmp_path / f).stat().st_size > 0 for f in figures), made


def test_readme_serve_lines_are_settings_serve_takes(monkeypatch):
    """Each ``lossatlas serve`` line, its optional groups given, with its environment: serve refused the token of
    the network example (``SECRET``: fewer than 8 characters)."""
    from server.cli import build_parser, settings_from_args

    lines = 0
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = [w.strip("[]") for w in shlex.split(line, comments=True)]
            env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
            words = words[len(env) :]
            if words[:2] == ["lossatlas", "serve"]:
                with monkeypatch.context() as m:
                    for name, value in env.items():
                        m.setenv(name, value)
                    settings_from_args(build_parser().parse_args(words[1:]))  # a refused setting raises
                lines += 1
    assert lines >= 2


def test_readme_names_files_that_exist():
    """Links and backticked paths of the repository (not globs, outputs or ../shared) name files that exist."""
    docs = [README, REPO / "precomputed" / "README.md", REPO / "bench" / "README.md"]
    prefixes = ("workers/", "server/", "bench/", "precomputed/", "docs/", "tests/", ".ci/", "constraints")
    for doc in docs:
        text = doc.read_text()
        names = re.findall(r"\]\(([^)#]+)\)", text) + re.findall(r"`([^`\s]+)`", text)
        for name in names:
            path = name.rstrip("/")
            if "*" in path or "<" in path or not path.startswith(prefixes):
                continue
            exists = (REPO / path).exists() or (doc.parent / path).exists()  # from the root or the document
            assert exists, f"{doc.relative_to(REPO)} names {name}, which does not exist"


def gallery_rows(text: str) -> list[list[str]]:
    """The gallery table's rows (the one whose header has 'non-convex share'), cells stripped."""
    table = re.search(r"^(\|[^\n]*non-convex share \|\n(?:\|[^\n]*\n)+)", text, flags=re.M).group(1)
    return [[c.strip().strip("`*") for c in row.strip("|").split("|")] for row in table.splitlines()[2:]]


def index_figures() -> dict[str, tuple[str, str, str, str, str]]:
    """Per entry id of precomputed/index.json: grid, samples, test accuracy, shares and centre train loss as
    the tables write them (a training path's entry, described in the text, is left out)."""
    import json

    import h5py

    figures = {}
    for e in json.loads((REPO / "precomputed" / "index.json").read_text())["entries"]:
        with h5py.File(REPO / "precomputed" / e["file"], "r") as f:
            if "trajectory" in f:
                continue
            z, nx, ny = f["train_loss"][()], len(f["xcoordinates"]), len(f["ycoordinates"])
            split = json.loads(f.attrs["recipe"])["spec"]["split"]
        stats = e["landscape_stats"]
        share = f"{stats['nonconvex_share']:.3f}"
        if "hessian" in stats:
            share += f"; eigenvalues {stats['hessian']['nonconvex_share']:.3f}"
        samples = str(e["samples"]) + ("" if split == "both" else f" ({split})")
        grid = f"{nx}×{ny}"
        figures[e["id"]] = (grid, samples, f"{e['test_acc']:.2f}%", share, f"{z[ny // 2, nx // 2]:.3f}")
    return figures


def test_gallery_tables_match_the_index_and_files():
    figures = index_figures()
    rows = gallery_rows((REPO / "precomputed" / "README.md").read_text())
    table = {r[0]: (r[3], r[4], r[5], r[7], r[6]) for r in rows}
    assert table == figures
    readme = {tuple(r[3:7]) for r in gallery_rows(README.read_text())}
    assert readme == {f[:4] for f in figures.values()}


def test_bench_readme_commands_name_their_scripts_options():
    """Each ``python bench/X.py --option`` of bench/README.md names a script that declares that option."""
    commands = re.findall(r"python bench/(\w+\.py)([^\n#]*)", (REPO / "bench" / "README.md").read_text())
    assert {script for script, _ in commands} >= {"bench_engine.py", "bench_record.py", "bench_ray.py"}
    for script, rest in commands:
        source = (REPO / "bench" / script).read_text()
        for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest):
            assert f'"{option}"' in source, f"bench/README.md: {script} has no option {option}"


def test_readme_signatures_are_the_code_s():
    """compute_surface's signature as the README writes it: each parameter exists, with that default; and the
    calls it shows of show() and compute_trajectory() bind."""
    import inspect

    from server.notebook import show
    from workers import compute_surface, compute_trajectory

    text = re.sub(r"\s+", " ", README.read_text())
    written = re.search(r"`compute_surface\((spec, out=None, .*?)\)`", text).group(1)
    params = inspect.signature(compute_surface).parameters
    for part in written.split(", "):
        name, _, default = part.partition("=")
        if name == "*":
            continue
        assert name in params, f"compute_surface has no parameter {name}"
        if default:
            assert repr(params[name].default) == default.replace('"', "'"), f"{name}'s default"
    inspect.signature(show).bind("a.h5", "b.h5", log=True)
    inspect.signature(compute_trajectory).bind({}, "out.h5", states=[])


def test_readme_extras_are_declared():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = set(re.findall(r"lossatlas(?:-[\w.*-]+\.whl)?\[(\w+)\]", README.read_text()))
    assert named >= {"plot", "ray", "reference"} and named <= set(extras), named - set(extras)
