"""The README's Python example runs as written and does what it says; its command lines are the command's."""

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
