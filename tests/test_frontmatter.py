from milpa.frontmatter import parse_front_matter


def test_fields_keep_their_lines_and_the_body_starts_after_the_blank_line() -> None:
    header = parse_front_matter("Title: Agua\nDate: 2026-05-01\nLang: quc\n\nFirst line.\n")
    assert header.get("title") == "Agua"
    assert header.line_of("lang") == 3
    assert header.body_line == 5
    assert header.body.startswith("First line.")
    assert header.errors == []


def test_keys_are_case_insensitive_and_continuations_join() -> None:
    header = parse_front_matter("TITLE: A long\n    title\nCover-Alt: x\n\nbody")
    assert header.get("title") == "A long\ntitle"
    assert header.get("cover-alt") == "x"


def test_a_malformed_header_line_is_reported_where_it_is() -> None:
    header = parse_front_matter("Title: A\nthis is not a field\nLang: es\n\nbody")
    assert [line for line, _, _ in header.errors] == [2]
    assert "Field: value" in header.errors[0][1]


def test_a_file_without_front_matter_is_reported() -> None:
    header = parse_front_matter("Just a story with no header.\n")
    assert header.errors and header.errors[0][0] == 1
    assert header.get("title") is None


def test_a_field_given_twice_is_reported_on_its_second_line() -> None:
    header = parse_front_matter("Title: A\nLang: es\nTitle: B\n\nbody")
    [(line, template, values)] = header.errors
    assert (line, template.format(**values)) == (3, "'title' is given twice (first on line 1)")


def test_yaml_style_fences_are_accepted_like_python_markdown_does() -> None:
    header = parse_front_matter("---\nTitle: A\n---\nbody")
    assert header.get("title") == "A"
    assert header.body == "body"
