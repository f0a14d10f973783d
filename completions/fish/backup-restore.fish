# fish completion for backup-restore(1)
# Install into ~/.config/fish/completions/ or /usr/share/fish/vendor_completions.d/.

# Prints the words that are not options or option values, after the command.
function __backup_restore_args
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
                --job --host --tag --target --include --exclude --overwrite --to-command \
                --dbname --pg-host --pg-port --pg-user --pitr --pitr-xid --pitr-name --pitr-lsn \
                --tablespace-mapping
                set skip 1
            case '-*'
            case '*'
                echo $t
        end
    end
end

# Succeeds when the command line is in one of the given contexts:
# top (nothing yet), restore (after a snapshot), snapshots, ls, diff, dump,
# wal-fetch.
function __backup_restore_in
    set -l args (__backup_restore_args)
    set -l ctx top
    if set -q args[1]
        switch $args[1]
            case snapshots ls diff dump wal-fetch
                set ctx $args[1]
            case '*'
                set ctx restore
        end
    end
    contains -- $ctx $argv
end

# Succeeds when the next argument is a snapshot of ls, diff or dump.
function __backup_restore_needs_snapshot
    set -l args (__backup_restore_args)
    switch "$args[1]"
        case ls dump
            test (count $args) -eq 1
        case diff
            test (count $args) -le 2
        case '*'
            return 1
    end
end

# Succeeds when the next argument is the destination of wal-fetch (after the
# WAL file's name, which is free text).
function __backup_restore_needs_wal_dest
    set -l args (__backup_restore_args)
    test "$args[1]" = wal-fetch -a (count $args) -eq 2
end

complete -c backup-restore -f

# Options shared by every Lifeboat tool.
complete -c backup-restore -l repo -x -a '(__fish_complete_directories)' -d 'Repository path or URL'
complete -c backup-restore -l password-file -r -F -d 'Read the password from a file'
complete -c backup-restore -l password-command -x -a '(__fish_complete_command)' -d 'Command that prints the password'
complete -c backup-restore -l key-file -r -F -d 'Open the repository with a key file'
complete -c backup-restore -l config -r -F -d 'Configuration file'
complete -c backup-restore -l cache-dir -x -a '(__fish_complete_directories)' -d 'Cache directory'
complete -c backup-restore -l s3-endpoint -x -d 'S3-compatible endpoint instead of AWS'
complete -c backup-restore -l connections -x -d 'Transfers in flight at once (1-64)'
complete -c backup-restore -l limit-upload -x -d 'Limit uploads to KiB/s on average'
complete -c backup-restore -l limit-download -x -d 'Limit downloads to KiB/s on average'
complete -c backup-restore -l json -d 'Print the result as JSON'
complete -c backup-restore -s q -l quiet -d 'Print only errors'
complete -c backup-restore -s v -l verbose -d 'Print more detail (twice: every storage operation)'
complete -c backup-restore -l help -d 'Print help and exit'
complete -c backup-restore -l version -d 'Print the version and exit'

# Narrowing "latest", or filtering the list of snapshots.
complete -c backup-restore -l job -x -d 'Only snapshots of this job'
complete -c backup-restore -l host -x -a '(__fish_print_hostnames)' -d 'Only snapshots of this host'
complete -c backup-restore -l tag -x -d 'Only snapshots with this tag'

# Restoring.
set -l restore '__backup_restore_in top restore'
complete -c backup-restore -n $restore -l target -x -a '(__fish_complete_directories)' -d 'Restore below this directory'
complete -c backup-restore -n $restore -l include -x -d 'Restore only paths matching a glob'
complete -c backup-restore -n $restore -l exclude -x -d 'Do not restore paths matching a glob'
complete -c backup-restore -n $restore -l overwrite -x -a 'never\t"Leave existing files untouched" if-changed\t"Replace files that differ (default)" always\t"Replace existing files"' -d 'What to do with existing files'
complete -c backup-restore -n $restore -l verify -d 'Read back and check every restored file'
complete -c backup-restore -n $restore -l dry-run -d 'Report what would be done, write nothing'
complete -c backup-restore -n $restore -l numeric-owner -d 'Restore owners by numeric id'
complete -c backup-restore -n $restore -l allow-unknown-signer -d 'Accept snapshots signed by an unknown key'

# Restoring into a program: a command, or PostgreSQL.
complete -c backup-restore -n $restore -l to-command -x -a '(__fish_complete_command)' -d "Feed the snapshot's stream into a shell command"
complete -c backup-restore -n $restore -l run-restore-command -d "Feed the snapshot's stream into its job's restore-command"
complete -c backup-restore -n $restore -l pitr -x -a latest -d 'Point-in-time recovery to TIME (or latest) into --target'
complete -c backup-restore -n $restore -l pitr-xid -x -d 'Point-in-time recovery to a transaction id'
complete -c backup-restore -n $restore -l pitr-name -x -d 'Point-in-time recovery to a restore point'
complete -c backup-restore -n $restore -l pitr-lsn -x -d 'Point-in-time recovery to a WAL position'
complete -c backup-restore -n $restore -l tablespace-mapping -x -d 'Base backups: restore the tablespace at OLDDIR into NEWDIR'
complete -c backup-restore -n $restore -l to-postgres -d 'Restore a PostgreSQL dump through pg_restore'
complete -c backup-restore -n $restore -l dbname -x -d 'With --to-postgres: only this database (default: all)'
complete -c backup-restore -n $restore -l create -d 'With --to-postgres: create each database'
complete -c backup-restore -n $restore -l clean -d 'With --to-postgres: drop each object (or the database) first'
complete -c backup-restore -n $restore -l pg-host -x -a '(__fish_complete_directories)' -d 'Server host or socket directory'
complete -c backup-restore -n $restore -l pg-port -x -d 'Server port'
complete -c backup-restore -n $restore -l pg-user -x -d 'Role to connect as'

# Subcommands, and "latest" wherever a snapshot is expected (listing the ids
# needs the repository's secret).
complete -c backup-restore -n '__backup_restore_in top' -a snapshots -d 'List the snapshots'
complete -c backup-restore -n '__backup_restore_in top' -a ls -d 'List the content of a snapshot'
complete -c backup-restore -n '__backup_restore_in top' -a diff -d 'Compare two snapshots'
complete -c backup-restore -n '__backup_restore_in top' -a dump -d 'Write a file or a tar stream to standard output'
complete -c backup-restore -n '__backup_restore_in top' -a wal-fetch -d 'Fetch one archived PostgreSQL WAL file (restore_command)'
complete -c backup-restore -n '__backup_restore_in top' -a latest -d 'Restore the newest snapshot'
complete -c backup-restore -n __backup_restore_needs_snapshot -a latest -d 'The newest snapshot'
complete -c backup-restore -n '__backup_restore_in dump' -l tar -d 'Write the whole snapshot as a pax tar stream'

# Fetching PostgreSQL WAL: restore_command = 'backup-restore wal-fetch --job NAME %f %p'.
complete -c backup-restore -n '__backup_restore_in wal-fetch' -l allow-unknown-signer -d 'Accept snapshots signed by an unknown key'
complete -c backup-restore -n __backup_restore_needs_wal_dest -F
