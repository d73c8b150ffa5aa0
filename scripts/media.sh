# Sourced by the scripts: where a test or benchmark input is.
#
# media REL prints the path of REL (e.g. film/a-bomb_blast_effects_part.mp4): tests/media/REL when
# the repository has it, else ../shared/media/REL, the larger collection of the same layout that
# some benchmarks use when it sits beside the project. Fails, naming both places, when neither has it.
media() {
    local root base
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for base in "$root/tests/media" "$root/../shared/media"; do
        if [ -e "$base/$1" ]; then
            printf '%s\n' "$base/$1"
            return 0
        fi
    done
    echo "error: $1 is neither in $root/tests/media/ nor in $root/../shared/media/" >&2
    return 1
}

# full_set REL prints ../shared/media/REL when that folder is there (a benchmark's whole set, e.g.
# the 35 historical photos), else tests/media/REL (the part of it the tests use), with a note.
full_set() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ -d "$root/../shared/media/$1" ]; then
        printf '%s\n' "$root/../shared/media/$1"
    else
        echo "note: ../shared/media/$1 is not there: using the smaller set in tests/media/$1" >&2
        media "$1"
    fi
}
