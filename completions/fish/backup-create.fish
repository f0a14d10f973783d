# fish completion for backup-create(1)
# Install into ~/.config/fish/completions/ or /usr/share/fish/vendor_completions.d/.

# Prints the words that are not options or option values, after the command.
function __backup_create_args
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
                --job --host --tag --exclude --exclude-file --stdin-name --from-command --time \
                --new-password-file --new-password-command --new-key-file --label \
                --shares --threshold --from --to --to-password-file \
                --to-password-command --to-key-file --mode --dbname --pg-host --pg-port \
                --pg-user
                set skip 1
            case '-*'
            case '*'
                echo $t
        end
    end
end

# Succeeds when the command line is in one of the given contexts:
# top (nothing yet), backup (after a path), postgres, wal-push, init, key (no key
# command yet), key-list, key-add, key-remove, key-passwd, key-paper,
# key-generate, copy.
function __backup_create_in
    set -l args (__backup_create_args)
    set -l ctx top
    if set -q args[1]
        switch $args[1]
            case postgres wal-push init copy
                set ctx $args[1]
            case key
                set ctx key
                if set -q args[2]
                    set ctx key-$args[2]
                end
            case '*'
                set ctx backup
        end
    end
    contains -- $ctx $argv
end

# Succeeds when "key generate" has no file name yet.
function __backup_create_needs_key_file
    set -l args (__backup_create_args)
    test "$args[1]" = key -a "$args[2]" = generate -a (count $args) -eq 2
end

# Succeeds when "wal-push" has no WAL file yet.
function __backup_create_needs_wal_file
    set -l args (__backup_create_args)
    test "$args[1]" = wal-push -a (count $args) -eq 1
end

complete -c backup-create -f

# Options shared by every Lifeboat tool.
complete -c backup-create -l repo -x -a '(__fish_complete_directories)' -d 'Repository path or URL'
complete -c backup-create -l password-file -r -F -d 'Read the password from a file'
complete -c backup-create -l password-command -x -a '(__fish_complete_command)' -d 'Command that prints the password'
complete -c backup-create -l key-file -r -F -d 'Open the repository with a key file'
complete -c backup-create -l config -r -F -d 'Configuration file'
complete -c backup-create -l cache-dir -x -a '(__fish_complete_directories)' -d 'Cache directory'
complete -c backup-create -l s3-endpoint -x -d 'S3-compatible endpoint instead of AWS'
complete -c backup-create -l connections -x -d 'Transfers in flight at once (1-64)'
complete -c backup-create -l limit-upload -x -d 'Limit uploads to KiB/s on average'
complete -c backup-create -l limit-download -x -d 'Limit downloads to KiB/s on average'
complete -c backup-create -l json -d 'Print the result as JSON'
complete -c backup-create -s q -l quiet -d 'Print only errors'
complete -c backup-create -s v -l verbose -d 'Print more detail (twice: every storage operation)'
complete -c backup-create -l help -d 'Print help and exit'
complete -c backup-create -l version -d 'Print the version and exit'

# Backing up.
set -l backup '__backup_create_in top backup'
complete -c backup-create -n $backup -l job -x -d 'Record or run this job'
complete -c backup-create -n $backup -l host -x -a '(__fish_print_hostnames)' -d 'Host name recorded in the snapshot'
complete -c backup-create -n $backup -l tag -x -d 'Add a tag to the snapshot'
complete -c backup-create -n $backup -l exclude -x -d 'Exclude files matching a glob'
complete -c backup-create -n $backup -l exclude-file -r -F -d 'Read exclude globs from a file'
complete -c backup-create -n $backup -l one-file-system -d 'Do not cross file system boundaries'
complete -c backup-create -n $backup -l no-cache -d 'Ignore the files cache, read every file again'
complete -c backup-create -n $backup -l stdin -d 'Store standard input as one file'
complete -c backup-create -n $backup -l from-command -x -a '(__fish_complete_command)' -d 'Store the output of a shell command as one file'
complete -c backup-create -n $backup -l stdin-name -x -d 'Path recorded for standard input'
complete -c backup-create -n $backup -l time -x -d "Record TIME (YYYY-MM-DD HH:MM[:SS], local) as the snapshot's time"
complete -c backup-create -n $backup -F

# Subcommands.
complete -c backup-create -n '__backup_create_in top' -a postgres -d 'Back up PostgreSQL (a logical dump)'
complete -c backup-create -n '__backup_create_in top' -a wal-push -d 'Archive one PostgreSQL WAL file (archive_command)'
complete -c backup-create -n '__backup_create_in top' -a init -d 'Create a new repository'
complete -c backup-create -n '__backup_create_in top' -a key -d 'Manage the key slots'
complete -c backup-create -n '__backup_create_in top' -a copy -d 'Copy snapshots to another repository'
complete -c backup-create -n '__backup_create_in key' -a list -d 'List the key slots'
complete -c backup-create -n '__backup_create_in key' -a add -d 'Add a key slot'
complete -c backup-create -n '__backup_create_in key' -a remove -d 'Remove a key slot'
complete -c backup-create -n '__backup_create_in key' -a passwd -d 'Change the password of the key in use'
complete -c backup-create -n '__backup_create_in key' -a paper -d 'Add a key printed as a paper key (or k-of-n shares)'
complete -c backup-create -n '__backup_create_in key' -a generate -d 'Write a new random key file'

# Backing up PostgreSQL.
set -l postgres '__backup_create_in postgres'
complete -c backup-create -n $postgres -l mode -x -a 'dump\t"A logical dump through pg_dump (default)" base\t"A base backup over the replication protocol"' -d 'Backup mode'
complete -c backup-create -n $postgres -l dbname -x -d 'Dump this database (default: every database)'
complete -c backup-create -n $postgres -l pg-host -x -a '(__fish_complete_directories)' -d 'Server host or socket directory'
complete -c backup-create -n $postgres -l pg-port -x -d 'Server port'
complete -c backup-create -n $postgres -l pg-user -x -d 'Role to connect as'
complete -c backup-create -n $postgres -l job -x -d 'Record or run this job'
complete -c backup-create -n $postgres -l host -x -a '(__fish_print_hostnames)' -d 'Host name recorded in the snapshot'
complete -c backup-create -n $postgres -l tag -x -d 'Add a tag to the snapshot'
complete -c backup-create -n $postgres -l time -x -d "Record TIME (YYYY-MM-DD HH:MM[:SS], local) as the snapshot's time"

# Archiving PostgreSQL WAL: archive_command = 'backup-create wal-push --job NAME %p'.
set -l walpush '__backup_create_in wal-push'
complete -c backup-create -n $walpush -l job -x -d 'The job that archives this cluster (names the repository)'
complete -c backup-create -n $walpush -l host -x -a '(__fish_print_hostnames)' -d 'Host name recorded in the snapshot'
complete -c backup-create -n __backup_create_needs_wal_file -F

# Key management.
complete -c backup-create -n '__backup_create_in key-add' -l write-only -d 'The new key can back up but not read content'
complete -c backup-create -n '__backup_create_in key-add key-passwd' -l new-password-file -r -F -d 'Read the new password from a file'
complete -c backup-create -n '__backup_create_in key-add key-passwd' -l new-password-command -x -a '(__fish_complete_command)' -d 'Command that prints the new password'
complete -c backup-create -n '__backup_create_in key-add' -l new-key-file -r -F -d 'Use a key file for the new slot'
complete -c backup-create -n '__backup_create_in key-add key-paper' -l label -x -d 'Label shown by key list'
complete -c backup-create -n '__backup_create_in key-paper' -l shares -x -d 'Split the paper key into N shares'
complete -c backup-create -n '__backup_create_in key-paper' -l threshold -x -d 'Shares needed to open the repository'
complete -c backup-create -n __backup_create_needs_key_file -F

# Copying snapshots; "latest" wherever a snapshot is expected (listing the ids
# needs the repository's secret).
set -l copy '__backup_create_in copy'
complete -c backup-create -n $copy -l from -x -a '(__fish_complete_directories)' -d 'Source repository (default: --repo)'
complete -c backup-create -n $copy -l to -x -a '(__fish_complete_directories)' -d 'Destination: a path, URL or configured name'
complete -c backup-create -n $copy -l to-password-file -r -F -d "Read the destination's password from a file"
complete -c backup-create -n $copy -l to-password-command -x -a '(__fish_complete_command)' -d "Command that prints the destination's password"
complete -c backup-create -n $copy -l to-key-file -r -F -d 'Open the destination with a key file'
complete -c backup-create -n $copy -l host -x -a '(__fish_print_hostnames)' -d 'Only snapshots of this host'
complete -c backup-create -n $copy -l tag -x -d 'Only snapshots with this tag'
complete -c backup-create -n $copy -l job -x -d 'Only snapshots of this job'
complete -c backup-create -n $copy -l dry-run -d 'Show what would be copied, write nothing'
complete -c backup-create -n $copy -a latest -d 'The newest snapshot'
