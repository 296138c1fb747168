"""The README's Python example runs as written and does what it says."""

import re

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
