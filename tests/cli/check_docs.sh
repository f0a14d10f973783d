#!/usr/bin/env bash
# Checks that every long option a tool lists with --help (for the tool and for
# each of its subcommands) is documented in the tool's man page source and
# offered by its bash, zsh and fish completions.
#
# usage: check_docs.sh BUILD_DIR SOURCE_ROOT
#   BUILD_DIR holds the executables backup-create, backup-restore,
#   backup-verify and backup-prune.
# Prints one FAIL line per missing (tool, option, file) on stderr, then
# "N passed, M failed" on stdout; exits 1 when anything failed.

set -u

usage='usage: check_docs.sh BUILD_DIR SOURCE_ROOT'
build=${1:?$usage}
src=${2:?$usage}

tools=(backup-create backup-restore backup-verify backup-prune)
declare -A subcommands=(
    [backup-create]='postgres wal-push init key copy'
    [backup-restore]='snapshots ls diff dump wal-fetch'
    [backup-verify]=''
    [backup-prune]='forget'
)
key_subcommands='list add remove passwd paper generate' # backup-create key SUB

# Options that only the man page must mention: --help and --version, and the
# secret-taking options that every tool refuses (completions must not offer
# them).
man_only=' --help --version --password --passphrase --secret --key '

passed=0
failed=0

fail()
{
    echo "FAIL: $*" >&2
    ((failed++))
}

# Appends to $options the long options listed by: TOOL [ARG...] --help. Only
# the option column counts ("  --name ARG" or "  -x,--name"): an option merely
# named in another's description (--to-command's "--stdin, --from-command")
# belongs to whatever lists it.
collect()
{
    local tool=$1 out rc=0 found
    shift
    local what="$tool${*:+ $*} --help"
    out=$(timeout 30 "$build/$tool" "$@" --help </dev/null 2>&1) || rc=$?
    if ((rc != 0)); then
        fail "'$what' exited with status $rc"
        return
    fi
    found=$(sed -nE 's/^[[:space:]]+(-[[:alnum:]],)?(--[a-z][a-z0-9-]*).*/\2/p' <<<"$out" |
        sed 's/-*$//')
    if [[ -z $found ]]; then
        fail "'$what' printed no long option"
        return
    fi
    options+=$'\n'$found
}

# The text of a documentation file without its comment lines, cached by path.
declare -A text=()
load()
{
    local file=$1 comment='^[[:space:]]*#'
    [[ -n ${text[$file]+set} ]] && return
    [[ $file == *.scd ]] && comment='^;'
    if [[ -f $file ]]; then
        text[$file]=$(grep -vE -- "$comment" "$file")
    else
        text[$file]=''
    fi
}

# check TOOL OPTION FILE: FILE must mention OPTION. Fish completions name long
# options as "-l NAME" (or --long-option NAME); the others spell "--NAME".
check()
{
    local tool=$1 option=$2 file=$3 name=${2#--} re
    load "$file"
    if [[ $file == *.fish ]]; then
        re="(^|[[:space:]])(-l|--long-option)([[:space:]]+|=)['\"]?$name(['\"]|[[:space:]]|\$)"
    else
        re="(^|[^[:alnum:]_-])--$name([^[:alnum:]_-]|\$)"
    fi
    if grep -qE -- "$re" <<<"${text[$file]}"; then
        ((passed++))
    elif [[ -f $file ]]; then
        fail "$tool: option $option is missing from $file"
    else
        fail "$tool: option $option is missing from $file (no such file)"
    fi
}

for tool in "${tools[@]}"; do
    if [[ ! -x $build/$tool ]]; then
        fail "$tool: no executable $build/$tool"
        continue
    fi

    options=''
    collect "$tool"
    for sub in ${subcommands[$tool]}; do
        collect "$tool" "$sub"
    done
    if [[ $tool == backup-create ]]; then
        for sub in $key_subcommands; do
            collect "$tool" key "$sub"
        done
    fi

    man=$src/man/$tool.1.scd
    completions=(
        "$src/completions/bash/$tool"
        "$src/completions/zsh/_$tool"
        "$src/completions/fish/$tool.fish"
    )
    while read -r option; do
        [[ -n $option ]] || continue
        check "$tool" "$option" "$man"
        [[ $man_only == *" $option "* ]] && continue
        for file in "${completions[@]}"; do
            check "$tool" "$option" "$file"
        done
    done < <(sort -u <<<"$options")
done

echo "$passed passed, $failed failed"
((failed == 0))
