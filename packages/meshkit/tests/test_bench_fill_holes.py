from bench_runs import run_benchmark


def test_quick_benchmark_prints_a_filled_row():
    out, _ = run_benchmark("bench_fill_holes.py", "--quick")
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["mesh", "faces", "holes", "added"]
    row = lines[3].split()
    faces, holes, added = (int(value.replace(",", "")) for value in row[2:5])
    assert faces > 100_000 and holes > 50
    assert added >= holes  # every punched hole is small enough to be closed, each by at least one face
    assert all(float(value) > 0 for value in row[5:8])  # meshkit wall, CPU, Mesh() wall
