#!/usr/bin/env bash
# Checks the scheduling templates: that every entry of the files in crontab/
# (README* aside) is valid /etc/cron.d syntax, that every backup-* invocation
# in them and in examples/systemd/*.service names a subcommand and long
# options the tool's --help knows, and that the systemd units are sound
# (systemd-analyze verify where it works here, else a static check). Commented
# entries ("#17 * * * * root ...", "# ExecStart=...") are the alternatives an
# operator may switch to, so they are checked too. Before it reads the
# templates, the script makes sure that its checks reject known-bad lines.
#
# usage: check_crontab.sh BUILD_DIR SOURCE_ROOT
#   BUILD_DIR holds the executables backup-create, backup-prune, backup-restore and
#   backup-verify. A missing one is a failure for every line that runs it.
# Prints one FAIL line per problem on stderr, then "N passed, M failed" on
# stdout; exits 1 when anything failed.

# shellcheck disable=SC2016 # the '$(...)' below are shell text to examine, not to expand
set -u

usage='usage: check_crontab.sh BUILD_DIR SOURCE_ROOT'
build=${1:?$usage}
src=${2:?$usage}
[[ -d $build ]] && build=$(cd "$build" && pwd) # systemd wants absolute paths

passed=0
failed=0

fail()
{
    echo "FAIL: $*" >&2
    ((failed++))
}

note()
{
    echo "note: $*" >&2
}

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT

# ---------------------------------------------------------------------------
# crontab entries

field_name=(minute hour day-of-month month day-of-week)
field_low=(0 0 1 1 0)
field_high=(59 23 31 12 7) # day of week 7 is Sunday, like 0
declare -A month_number=([jan]=1 [feb]=2 [mar]=3 [apr]=4 [may]=5 [jun]=6
    [jul]=7 [aug]=8 [sep]=9 [oct]=10 [nov]=11 [dec]=12)
declare -A day_number=([sun]=0 [mon]=1 [tue]=2 [wed]=3 [thu]=4 [fri]=5 [sat]=6)

# to_number FIELD TOKEN: sets REPLY to the value of TOKEN (a number, or a
# month or day name in those fields); returns 1 when TOKEN is not valid there.
to_number()
{
    local i=$1 token=${2,,}
    if [[ $token =~ ^[0-9]+$ ]]; then
        REPLY=$((10#$token))
    elif ((i == 3)) && [[ -n ${month_number[$token]+set} ]]; then
        REPLY=${month_number[$token]}
    elif ((i == 4)) && [[ -n ${day_number[$token]+set} ]]; then
        REPLY=${day_number[$token]}
    else
        return 1
    fi
    ((REPLY >= field_low[i] && REPLY <= field_high[i]))
}

# field_problem FIELD TEXT: prints why TEXT is not a valid time field number
# FIELD (0 minute ... 4 day of week), or nothing. Accepts what Debian's cron
# accepts: *, N, N-M, */S, N-M/S and comma lists of them; names in months and
# days of the week.
field_problem()
{
    local i=$1 text=$2 what="${field_name[$1]} '$2'" range="${field_low[$1]}-${field_high[$1]}"
    local item span step first last items
    if [[ -z $text ]]; then
        echo "no ${field_name[i]} field"
        return
    fi
    if [[ $text == ,* || $text == *, || $text == *,,* ]]; then
        echo "$what: empty list element"
        return
    fi
    IFS=, read -ra items <<<"$text"
    for item in "${items[@]}"; do
        step=''
        span=$item
        if [[ $item == */* ]]; then
            span=${item%%/*}
            step=${item#*/}
            if ! [[ $step =~ ^[0-9]+$ ]] || ((10#$step < 1 || 10#$step > field_high[i])); then
                echo "$what: bad step '$step'"
                return
            fi
        fi
        if [[ $span == '*' ]]; then
            continue
        elif [[ $span == *-* ]]; then
            if ! to_number "$i" "${span%%-*}"; then
                echo "$what: '${span%%-*}' is not in $range"
                return
            fi
            first=$REPLY
            if ! to_number "$i" "${span#*-}"; then
                echo "$what: '${span#*-}' is not in $range"
                return
            fi
            last=$REPLY
            if ((first > last)); then
                echo "$what: range '$span' runs backwards"
                return
            fi
        elif [[ -n $step ]]; then
            echo "$what: a step needs '*' or a range before it"
            return
        elif ! to_number "$i" "$span"; then
            echo "$what: '$span' is not in $range"
            return
        fi
    done
}

unescaped_percent='(^|[^\])%' # in a bracket expression '\' is itself

# entry_problem LINE: sets $problem to why LINE is not a valid /etc/cron.d
# entry (empty when it is), and $command to its command.
entry_problem()
{
    local line=$1 macro user i minute hour day month weekday
    local -a fields
    problem=''
    command=''
    if [[ $line == @* ]]; then
        read -r macro user command <<<"$line"
        case $macro in
        @reboot | @yearly | @annually | @monthly | @weekly | @daily | @midnight | @hourly) ;;
        *)
            problem="unknown schedule '$macro'"
            return
            ;;
        esac
    else
        read -r minute hour day month weekday user command <<<"$line"
        fields=("$minute" "$hour" "$day" "$month" "$weekday")
        for i in 0 1 2 3 4; do
            problem=$(field_problem "$i" "${fields[i]-}")
            [[ -n $problem ]] && return
        done
    fi
    if ! [[ ${user-} =~ ^[a-z_][a-z0-9_-]*[$]?$ ]]; then
        problem="'${user-}' is not a user name (an /etc/cron.d entry names its user after the time)"
    elif [[ -z $command ]]; then
        problem='no command'
    elif [[ $command =~ $unescaped_percent ]]; then
        problem="unescaped '%' in the command (cron turns it into a newline: write '\\%')"
    fi
}

# ---------------------------------------------------------------------------
# tool invocations

tool_re='^backup-(create|prune|restore|verify)$'

# invocations TEXT: sets the array $found to one entry per backup-* invocation
# in the shell command TEXT: the tool, then the words up to the end of that
# command, separated by $'\x1f'. Command separators end an invocation, and so
# does a redirection or the closing quote of a "bash -c '...'" that holds it.
# A tool named inside double quotes is text (a log message), not a command.
# A $(...) spanning several words counts as one word.
invocations()
{
    local text=$1 word joined='' base quotes in_dq=0 in_sq=0 start_sq=0 current='' opens closes
    local -a raw words=()
    found=()
    text=$(sed -E 's/(\|\||&&|\||;)/ ; /g' <<<"$text")
    read -ra raw <<<"$text"
    for word in "${raw[@]}"; do
        if [[ -n $joined ]]; then
            joined+=" $word"
        elif [[ $word == *'$('* ]]; then
            joined=$word
        else
            words+=("$word")
            continue
        fi
        opens=${joined//[^(]/}
        closes=${joined//[^)]/}
        if ((${#closes} >= ${#opens})); then
            words+=("$joined")
            joined=''
        fi
    done
    [[ -n $joined ]] && words+=("$joined")

    for word in "${words[@]}"; do
        local was_dq=$in_dq was_sq=$in_sq
        quotes=${word//[^\"]/}
        ((${#quotes} % 2)) && ((in_dq ^= 1))
        if ((!in_dq && !was_dq)); then
            quotes=${word//[^\']/}
            ((${#quotes} % 2)) && ((in_sq ^= 1))
        fi
        if [[ -n $current ]]; then
            if [[ $word == ';' || $word == [0-9\<\>\&]*[\<\>]* || $word == [\<\>]* ]]; then
                found+=("$current")
                current=''
                continue
            fi
            current+=$'\x1f'$word
            if ((start_sq && was_sq && !in_sq)); then
                found+=("$current")
                current=''
            fi
            continue
        fi
        ((was_dq || in_dq)) && continue
        base=${word##*[/=\'\"(]}
        while [[ $base == [-@:+!]* ]]; do base=${base:1}; done
        if [[ $base =~ $tool_re ]]; then
            current=$base
            start_sq=$in_sq
        fi
    done
    [[ -n $current ]] && found+=("$current")
}

# What "BUILD_DIR/TOOL [SUB...] --help" says, by "TOOL SUB...": whether it
# worked, its long options, those of them that take a value, its subcommands.
declare -A help_ok=() help_options=() help_valued=() help_subcommands=()

load_help()
{
    local key=$1 out rc=0 line in_subs=0 options=' ' valued=' ' subs=' ' re
    local -a argv
    [[ -n ${help_ok[$key]+set} ]] && return
    read -ra argv <<<"$key"
    out=$(timeout 30 "$build/${argv[0]}" "${argv[@]:1}" --help </dev/null 2>&1) || rc=$?
    if ((rc != 0)); then
        help_ok[$key]="'$key --help' exited with status $rc"
        return
    fi
    help_ok[$key]=''
    options+=$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$out" | sed 's/-*$//' | tr '\n' ' ')
    # CLI11 writes "  --name METAVAR   Description": one space before a value's
    # name, several before the description ("Excludes:" is not a value).
    re='^ +(-[[:alnum:]],)?(--[a-z][a-z0-9-]*) ([A-Z][^ ]*)'
    while IFS= read -r line; do
        if [[ $line =~ $re && ${BASH_REMATCH[3]} != *: ]]; then
            valued+="${BASH_REMATCH[2]} "
        fi
        if [[ $line == Subcommands:* ]]; then
            in_subs=1
        elif [[ -z $line ]]; then
            in_subs=0
        elif ((in_subs)) && [[ $line =~ ^\ +([a-z][a-z0-9-]*) ]]; then
            subs+="${BASH_REMATCH[1]} "
        fi
    done <<<"$out"
    help_options[$key]=$options
    help_valued[$key]=$valued
    help_subcommands[$key]=$subs
}

# invocation_problems FIELDS: sets the array $problems to what is wrong with
# one entry of $found, and $checked to the number of options found good. An
# option before a subcommand must be in the tool's --help; one after it may be
# in the --help of the tool or of any subcommand up to there.
invocation_problems()
{
    local tool word name key levels options=' ' valued=' ' subs first=1 value_next=0
    local -a words
    problems=()
    checked=0
    IFS=$'\x1f' read -ra words <<<"$1"
    tool=${words[0]}
    if [[ ! -x $build/$tool ]]; then
        problems+=("$tool: no executable $build/$tool")
        return
    fi
    key=$tool
    levels="'$key'"
    load_help "$key"
    if [[ -n ${help_ok[$key]} ]]; then
        problems+=("${help_ok[$key]}")
        return
    fi
    options+=${help_options[$key]}
    valued+=${help_valued[$key]}
    subs=${help_subcommands[$key]}
    for word in "${words[@]:1}"; do
        word=${word#[\'\"]}
        word=${word%[\'\"]}
        if ((value_next)); then
            value_next=0
            continue
        fi
        [[ $word == -- ]] && break
        if [[ $word == --[a-z]* ]]; then
            name=${word%%=*}
            if [[ $options != *" $name "* ]]; then
                problems+=("$key: option $name is not in the --help of $levels")
            else
                ((checked++))
                [[ $word != *=* && $valued == *" $name "* ]] && value_next=1
            fi
        elif [[ $word == -* ]]; then
            continue # short options are not checked
        elif ((first)) && [[ $subs == *" $word "* ]]; then
            key+=" $word"
            levels+=" or '$key'"
            load_help "$key"
            if [[ -n ${help_ok[$key]} ]]; then
                problems+=("${help_ok[$key]}")
                return
            fi
            options+=${help_options[$key]}
            valued+=${help_valued[$key]}
            subs=${help_subcommands[$key]}
        else
            first=0
        fi
    done
}

# check_command WHERE TEXT: every invocation in the shell command TEXT.
check_command()
{
    local where=$1 text=$2 entry problem
    invocations "$text"
    for entry in "${found[@]}"; do
        invocation_problems "$entry"
        ((passed += checked))
        for problem in "${problems[@]}"; do
            fail "$where: $problem"
        done
    done
}

# ---------------------------------------------------------------------------
# The checks themselves must reject what cron and the tools would reject.

bad_entries=(
    '61 * * * * root true'
    '* 24 * * * root true'
    '* * 0 * * root true'
    '* * 32 * * root true'
    '* * * 13 * root true'
    '* * * * 8 root true'
    '*/0 * * * * root true'
    '*/61 * * * * root true'
    '30-10 * * * * root true'
    '5/10 * * * * root true'
    '1,,2 * * * * root true'
    '1, * * * * root true'
    '* * * foo * root true'
    '* * * * sunday root true'
    '* * * jan-mon * root true'
    'x * * * * root true'
    '* * * * root true'
    '* * * * * root'
    '* * * * * Root true'
    '@fortnightly root true'
    '@daily root'
    '* * * * * root date +%s'
    '* * * * * root echo 100\\%%'
)
good_entries=(
    '*/15 0-6,22 1 jan-mar mon-fri root true'
    '0 0 31 dec 7 root true'
    '0-59/5 */6 1-31/2 1,6,12 SUN root true'
    '@daily root date +\%s'
    '@reboot lifeboat sleep $((RANDOM \% 900))'
)
for line in "${bad_entries[@]}"; do
    entry_problem "$line"
    if [[ -n $problem ]]; then
        ((passed++))
    else
        fail "self-check: the invalid crontab entry '$line' was accepted"
    fi
done
for line in "${good_entries[@]}"; do
    entry_problem "$line"
    if [[ -z $problem ]]; then
        ((passed++))
    else
        fail "self-check: the valid crontab entry '$line' was rejected: $problem"
    fi
done

# TEXT, then the number of invocations it holds, then the number of problems.
invocation_cases=(
    'backup-create --config /etc/l.yaml --no-such-flag' 1 1
    'backup-create --config=/etc/l.yaml --no-such-flag=1 init' 1 1
    'backup-create --config /etc/l.yaml init --no-such-flag' 1 1
    "flock -n x /bin/bash -c 'exec backup-create --job x --no-such-flag' | logger" 1 1
    'backup-verify --read-data-subset $(( $(date +%s) / 86400 % 30 + 1 ))/30 --no-such-flag' 1 1
    'backup-create --job x 2>&1 | logger -t lifeboat || logger "backup-create --no-such-flag"' 1 0
    'ExecStart=backup-create --config /etc/l.yaml --job %i' 1 0
    'backup-create --write-only key add' 1 1
    'backup-create --config /etc/l.yaml key add --write-only --label x' 1 0
)
for ((i = 0; i < ${#invocation_cases[@]}; i += 3)); do
    text=${invocation_cases[i]}
    invocations "$text"
    count=0
    for entry in "${found[@]}"; do
        invocation_problems "$entry"
        ((count += ${#problems[@]}))
    done
    if ((${#found[@]} != invocation_cases[i + 1])); then
        fail "self-check: '$text': ${#found[@]} invocations found, expected ${invocation_cases[i + 1]}"
    elif ((count != invocation_cases[i + 2])); then
        fail "self-check: '$text': $count problems found, expected ${invocation_cases[i + 2]}"
    else
        ((passed++))
    fi
done

# ---------------------------------------------------------------------------
# crontab/

cron_files=()
for file in "$src"/crontab/*; do
    [[ -f $file && ${file##*/} != README* ]] && cron_files+=("$file")
done
((${#cron_files[@]})) || fail "no crontab template in $src/crontab"

for file in "${cron_files[@]}"; do
    rel=${file#"$src"/}
    name=${file##*/}
    active=0
    if ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]]; then
        fail "$rel: cron ignores files in /etc/cron.d whose names hold anything but letters, digits, '_' and '-'"
    fi
    if [[ -s $file && -n $(tail -c 1 "$file") ]]; then
        fail "$rel: the last line does not end with a newline (cron would ignore it)"
    fi
    number=0
    while IFS= read -r line || [[ -n $line ]]; do
        ((number++))
        where="$rel:$number"
        if [[ $line =~ ^[[:space:]]*$ ]]; then
            continue
        elif [[ $line =~ ^#[0-9*@] ]]; then
            line=${line#\#} # a disabled entry, to be enabled by deleting the '#'
            where+=' (disabled)'
        elif [[ $line =~ ^[[:space:]]*# ]]; then
            continue
        elif [[ $line =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*= ]]; then
            continue
        else
            ((active++))
        fi
        entry_problem "$line"
        if [[ -n $problem ]]; then
            fail "$where: $problem"
            continue
        fi
        ((passed++))
        check_command "$where" "$command"
    done <"$file"
    ((active)) || fail "$rel: no active entry"
done

# ---------------------------------------------------------------------------
# examples/systemd/

units=()
for file in "$src"/examples/systemd/*.service "$src"/examples/systemd/*.timer; do
    [[ -f $file ]] && units+=("$file")
done
((${#units[@]})) || fail "no systemd unit in $src/examples/systemd"

# Exec lines, continuation lines joined; "# ExecStart=..." is a disabled one.
for file in "${units[@]}"; do
    [[ $file == *.service ]] || continue
    rel=${file#"$src"/}
    number=0
    text=''
    while IFS= read -r line || [[ -n $line ]]; do
        ((number++))
        [[ -z $text ]] && start=$number
        if [[ $line == *\\ ]]; then
            text+="${line%\\} "
            continue
        fi
        text+=$line
        if [[ $text =~ ^[[:space:]]*Exec[A-Za-z]*= ]]; then
            check_command "$rel:$start" "$text"
        elif [[ $text =~ ^[#\;][[:space:]]*Exec[A-Za-z]*= ]]; then
            check_command "$rel:$start (disabled)" "${text:1}"
        fi
        text=''
    done <"$file"
done

# Static checks: each timer has a schedule and a service to start, each
# service a command.
for file in "${units[@]}"; do
    rel=${file#"$src"/}
    if [[ $file == *.timer ]]; then
        target=$(sed -nE 's/^[[:space:]]*Unit[[:space:]]*=[[:space:]]*//p' "$file" | tail -n 1)
        [[ -n $target ]] || target=${file##*/}
        target=${target%.timer}
        target=${target%.service}.service
        if ! grep -qE '^[[:space:]]*OnCalendar[[:space:]]*=[[:space:]]*[^[:space:]]' "$file"; then
            fail "$rel: no OnCalendar="
        elif [[ ! -f ${file%/*}/$target ]]; then
            fail "$rel: starts $target, which is not in ${file%/*}"
        else
            ((passed++))
        fi
    elif ! grep -qE '^[[:space:]]*ExecStart[[:space:]]*=' "$file"; then
        fail "$rel: no ExecStart="
    else
        ((passed++))
    fi
done

# systemd-analyze verify, where it works: a sound probe unit must pass and a
# broken one must not (in a container it may do neither).
analyze_works()
{
    local dir=$scratch/probe out
    command -v systemd-analyze >/dev/null || {
        analyze_why='there is no systemd-analyze'
        return 1
    }
    mkdir -p "$dir"
    printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$dir/lifeboat-probe.service"
    printf '[Timer]\nOnCalendar=hourly\n' >"$dir/lifeboat-probe.timer"
    if ! out=$(cd "$dir" && timeout 60 systemd-analyze verify --man=no ./lifeboat-probe.service \
        ./lifeboat-probe.timer 2>&1) || [[ -n $out ]]; then
        analyze_why="it rejects a sound unit: ${out%%$'\n'*}"
        return 1
    fi
    printf '[Timer]\nOnCalendar=Funday 25:61\n' >"$dir/lifeboat-probe.timer"
    if out=$(cd "$dir" && timeout 60 systemd-analyze verify --man=no ./lifeboat-probe.service \
        ./lifeboat-probe.timer 2>&1) && [[ -z $out ]]; then
        analyze_why='it accepts a broken timer'
        return 1
    fi
}

if ((${#units[@]})) && analyze_works; then
    # Templates are verified as instance "system", with the tools taken from
    # BUILD_DIR, since systemd checks that each command exists.
    dir=$scratch/units
    mkdir -p "$dir"
    for file in "${units[@]}"; do
        name=${file##*/}
        name=${name/@./@system.}
        sed -E "/^[[:space:]]*Exec/s#(=[-@:+!]*|[[:space:]'\"])(backup-(create|prune|restore|verify))([[:space:]'\"]|\$)#\\1$build/\\2\\4#g" \
            "$file" >"$dir/$name"
    done
    rc=0
    out=$(cd "$dir" && timeout 120 systemd-analyze verify --man=no ./* 2>&1) || rc=$?
    if [[ -n $out ]]; then
        while IFS= read -r line; do
            fail "systemd-analyze verify: ${line//"$dir"/$src/examples/systemd}"
        done <<<"$out"
    elif ((rc != 0)); then
        fail "systemd-analyze verify exited with status $rc"
    else
        ((passed++))
    fi
elif ((${#units[@]})); then
    note "systemd-analyze verify skipped: $analyze_why"
fi

echo "$passed passed, $failed failed"
((failed == 0))
