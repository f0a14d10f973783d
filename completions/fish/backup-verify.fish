# fish completion for backup-verify(1)
# Install into ~/.config/fish/completions/ or /usr/share/fish/vendor_completions.d/.

complete -c backup-verify -f

# Options shared by every Lifeboat tool.
complete -c backup-verify -l repo -x -a '(__fish_complete_directories)' -d 'Repository path or URL'
complete -c backup-verify -l password-file -r -F -d 'Read the password from a file'
complete -c backup-verify -l password-command -x -a '(__fish_complete_command)' -d 'Command that prints the password'
complete -c backup-verify -l key-file -r -F -d 'Open the repository with a key file'
complete -c backup-verify -l config -r -F -d 'Configuration file'
complete -c backup-verify -l cache-dir -x -a '(__fish_complete_directories)' -d 'Cache directory'
complete -c backup-verify -l s3-endpoint -x -d 'S3-compatible endpoint instead of AWS'
complete -c backup-verify -l connections -x -d 'Transfers in flight at once (1-64)'
complete -c backup-verify -l limit-upload -x -d 'Limit uploads to KiB/s on average'
complete -c backup-verify -l limit-download -x -d 'Limit downloads to KiB/s on average'
complete -c backup-verify -l json -d 'Print the result as JSON'
complete -c backup-verify -s q -l quiet -d 'Print only errors'
complete -c backup-verify -s v -l verbose -d 'Print more detail (twice: every storage operation)'
complete -c backup-verify -l help -d 'Print help and exit'
complete -c backup-verify -l version -d 'Print the version and exit'

# Checks.
complete -c backup-verify -n 'not __fish_seen_argument -l read-data-subset' -l read-data -d 'Read, authenticate and decompress every blob'
complete -c backup-verify -n 'not __fish_seen_argument -l read-data' -l read-data-subset -x -d 'Check slice N/M, or P%, of the packs'
complete -c backup-verify -l quick -d 'Re-hash every stored object, without a key'
complete -c backup-verify -l allow-unknown-signer -d 'Accept snapshots signed by an unknown key'
