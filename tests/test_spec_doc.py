"""The bundle format ships with the project (docs/SPEC.md, linked from the
README) and stays in step with the team's SPEC.md, which CI keeps beside the
checkout (../shared; a worktree sits one level deeper)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = [REPO.parent / "shared" / "SPEC.md", REPO.parent.parent / "shared" / "SPEC.md"]


def test_readme_links_the_spec_that_ships():
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)]*SPEC\.md)\)", readme)
    assert links, "the README links no SPEC.md"
    for link in links:
        assert (REPO / link).is_file(), f"README links {link}, which is not in the project"
    assert "../shared/" not in readme
    assert "Visual Bundle" in (REPO / "docs" / "SPEC.md").read_text()


def test_spec_is_in_step_with_the_shared_one():
    shared = next((p for p in SHARED if p.is_file()), None)
    ours = (REPO / "docs" / "SPEC.md").read_text()
    if shared is not None:  # beside the checkout in CI and in the developers' tree
        # The shared text verbatim, then this implementation's own details.
        assert ours.startswith(shared.read_text()), "docs/SPEC.md does not start with the shared SPEC.md: copy it over"
    else:  # a user's clone: at least the format's version is the one the code writes
        from lifelog_compression import recipe

        assert f"`format_version` = {recipe.spec()['format_version']}" in ours
