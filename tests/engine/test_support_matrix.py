import json

from engine.support_matrix import main


def test_support_matrix_json_and_markdown(capsys):
    main([])
    matrix = json.loads(capsys.readouterr().out)
    assert "float32" in matrix["Conv"] and "Reshape" in matrix
    assert len(matrix) >= 60
    main(["--markdown"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| op |") and "float32" in table[0]
    assert len(table) == len(matrix) + 2
