# fish completion for backup-prune(1)
# Install into ~/.config/fish/completions/ or /usr/share/fish/vendor_completions.d/.

# Prints the words that are not options or option values, after the command.
function __backup_prune_args
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case --repo --password-file --password-command --key-file --config --cache-dir \
                --s3-endpoint --connections --limit-upload --limit-download \
                --max-unused --max-repack-size --grace \
                --keep-last --keep-hourly --keep-daily --keep-weekly --keep-monthly \
                --keep-yearly --keep-within --keep-within-hourly --keep-within-daily \
                --keep-within-weekly --keep-within-monthly --keep-within-yearly \
                --keep-tag --group-by --job --host --tag
                set skip 1
            case '-*'
            case '*'
                echo $t
        end
    end
end

# Succeeds when the command line is in one of the given contexts:
# top (no subcommand yet), forget or rebuild-index.
function __backup_prune_in
    set -l args (__backup_prune_args)
    set -l ctx top
    if set -q args[1]
        set ctx $args[1]
    end
    contains -- $ctx $argv
end

# Completes the comma-separated fields of --group-by: the last field, after
# the ones already typed.
function __backup_prune_group_by
    set -l token (commandline -ct)
    set token (string replace -r -- '^--group-by=' '' $token)
    set -l done (string replace -r -- '[^,]*$' '' $token)
    for field in host job paths tags
        echo $done$field
    end
end

complete -c backup-prune -f

# Options shared by every Lifeboat tool.
complete -c backup-prune -l repo -x -a '(__fish_complete_directories)' -d 'Repository path or URL'
complete -c backup-prune -l password-file -r -F -d 'Read the password from a file'
complete -c backup-prune -l password-command -x -a '(__fish_complete_command)' -d 'Command that prints the password'
complete -c backup-prune -l key-file -r -F -d 'Open the repository with a key file'
complete -c backup-prune -l config -r -F -d 'Configuration file'
complete -c backup-prune -l cache-dir -x -a '(__fish_complete_directories)' -d 'Cache directory'
complete -c backup-prune -l s3-endpoint -x -d 'S3-compatible endpoint instead of AWS'
complete -c backup-prune -l connections -x -d 'Transfers in flight at once (1-64)'
complete -c backup-prune -l limit-upload -x -d 'Limit uploads to KiB/s on average'
complete -c backup-prune -l limit-download -x -d 'Limit downloads to KiB/s on average'
complete -c backup-prune -l json -d 'Print the result as JSON'
complete -c backup-prune -s q -l quiet -d 'Print only warnings and errors'
complete -c backup-prune -s v -l verbose -d 'Print more detail (twice: every storage operation)'
complete -c backup-prune -l help -d 'Print help and exit'
complete -c backup-prune -l version -d 'Print the version and exit'

# The garbage collection (also run by forget --prune).
complete -c backup-prune -l dry-run -d 'Show what would be done, change nothing'
complete -c backup-prune -n '__backup_prune_in top forget' -l max-unused -x -d 'Repack packs with more than PCT unused (default 10%)'
complete -c backup-prune -n '__backup_prune_in top forget' -l max-repack-size -x -d 'Repack at most SIZE of packs per run (like 2G)'
complete -c backup-prune -n '__backup_prune_in top forget' -l grace -x -d 'Delete condemned packs only after DURATION (default 1h; 0 for none)'

# Subcommand.
complete -c backup-prune -n '__backup_prune_in top' -a forget -d 'Forget snapshots by a retention policy'
complete -c backup-prune -n '__backup_prune_in top' -a rebuild-index -d 'Rebuild the index from the packs\' own headers'

# Forgetting. Snapshot ids need the repository's secret to list; forget does
# not take "latest", so no argument is offered.
set -l forget '__backup_prune_in forget'
complete -c backup-prune -n $forget -l keep-last -x -d 'Keep the N newest snapshots'
complete -c backup-prune -n $forget -l keep-hourly -x -d 'Keep the newest of each of N hours'
complete -c backup-prune -n $forget -l keep-daily -x -d 'Keep the newest of each of N days'
complete -c backup-prune -n $forget -l keep-weekly -x -d 'Keep the newest of each of N weeks'
complete -c backup-prune -n $forget -l keep-monthly -x -d 'Keep the newest of each of N months'
complete -c backup-prune -n $forget -l keep-yearly -x -d 'Keep the newest of each of N years'
complete -c backup-prune -n $forget -l keep-within -x -d 'Keep every snapshot within DURATION of the newest (like 30d)'
complete -c backup-prune -n $forget -l keep-within-hourly -x -d 'Keep the newest of each hour within DURATION'
complete -c backup-prune -n $forget -l keep-within-daily -x -d 'Keep the newest of each day within DURATION'
complete -c backup-prune -n $forget -l keep-within-weekly -x -d 'Keep the newest of each week within DURATION'
complete -c backup-prune -n $forget -l keep-within-monthly -x -d 'Keep the newest of each month within DURATION'
complete -c backup-prune -n $forget -l keep-within-yearly -x -d 'Keep the newest of each year within DURATION'
complete -c backup-prune -n $forget -l keep-tag -x -d 'Keep every snapshot with this tag'
complete -c backup-prune -n $forget -l group-by -x -a '(__backup_prune_group_by)' -d 'Group by fields: host,job (default), paths, tags'
complete -c backup-prune -n $forget -l job -x -d 'Only snapshots of this job'
complete -c backup-prune -n $forget -l host -x -a '(__fish_print_hostnames)' -d 'Only snapshots of this host'
complete -c backup-prune -n $forget -l tag -x -d 'Only snapshots with this tag'
complete -c backup-prune -n $forget -l allow-remove-all -d 'Allow a policy that forgets every snapshot of a group'
complete -c backup-prune -n $forget -l prune -d 'Run the garbage collection afterwards'
