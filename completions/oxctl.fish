# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oxctl_global_optspecs
    string join \n endpoints= debug= w/write-out= hex= dial-timeout= command-timeout= keepalive-time= keepalive-timeout= insecure-transport= insecure-discovery= insecure-skip-tls-verify= cert= key= cacert= user= password= d/discovery-srv= discovery-srv-name= h/help V/version
end

function __fish_oxctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oxctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oxctl_using_subcommand
    set -l cmd (__fish_oxctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oxctl -n "__fish_oxctl_needs_command" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_needs_command" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_needs_command" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_needs_command" -s V -l version -d 'Print version'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "get" -d 'Gets the key or a range of keys'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "put" -d 'Puts the given key into the store'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "del" -d 'Removes the specified key or range of keys [key, range_end)'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "txn" -d 'Txn processes all the requests in one transaction'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "compaction" -d 'Compacts the event history in etcd'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "alarm" -d 'Alarm related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "defrag" -d 'Defragments the storage of the etcd members with given endpoints'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "endpoint" -d 'Endpoint related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "move-leader" -d 'Transfers leadership to another etcd cluster member.'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "watch" -d 'Watches events stream on keys or prefixes'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "version" -d 'Prints the version of etcdctl'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "lease" -d 'Lease related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "member" -d 'Membership related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "snapshot" -d 'Manages etcd node snapshots'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "make-mirror" -d 'Makes a mirror at the destination etcd cluster'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "lock" -d 'Acquires a named lock'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "elect" -d 'Observes and participates in leader election'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "auth" -d 'Enable or disable authentication'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "user" -d 'User related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "role" -d 'Role related commands'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "check" -d 'commands for checking properties of the etcd cluster'
complete -c oxctl -n "__fish_oxctl_needs_command" -f -a "completion" -d 'Generates shell completion scripts'
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l consistency -d 'Linearizable(l) or Serializable(s)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l order -d 'Order of results; ASCEND or DESCEND (ASCEND by default)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l sort-by -d 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l limit -d 'Maximum number of results' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l prefix -d 'Get keys with matching prefix' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l from-key -d 'Get keys that are greater than or equal to the given key using byte compare' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l rev -d 'Specify the kv revision' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l keys-only -d 'Get only the keys' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l count-only -d 'Get only the count' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l print-value-only -d 'Only write values when using the "simple" output format' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand get" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l lease -d 'lease ID (in hexadecimal) to attach to the key' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l prev-kv -d 'return the previous key-value pair before modification' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l ignore-value -d 'updates the key using its current value' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l ignore-lease -d 'updates the key using its current lease' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand put" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l prefix -d 'delete keys with matching prefix' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l prev-kv -d 'return deleted key-value pairs' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l from-key -d 'delete keys that are greater than or equal to the given key using byte compare' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand del" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -s i -l interactive -d 'Input transaction in interactive mode' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand txn" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l physical -d '\'true\' to wait for compaction to physically remove all old revisions' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand compaction" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -f -a "disarm" -d 'Disarms all alarms'
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and not __fish_seen_subcommand_from disarm list" -f -a "list" -d 'Lists all alarms'
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from disarm" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand alarm; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l data-dir -d 'Optional. If present, defragments a data directory not in use by etcd.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l cluster -d 'use all endpoints from the cluster member list' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand defrag" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l cluster -d 'use all endpoints from the cluster member list' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -f -a "health" -d 'Checks the healthiness of endpoints specified in `--endpoints` flag'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -f -a "status" -d 'Prints out the status of endpoints specified in `--endpoints` flag'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and not __fish_seen_subcommand_from health status hashkv" -f -a "hashkv" -d 'Prints the KV history hash for each endpoint in --endpoints'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l cluster -d 'use all endpoints from the cluster member list' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from health" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l cluster -d 'use all endpoints from the cluster member list' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l rev -d 'maximum revision to hash (default: all revisions)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l cluster -d 'use all endpoints from the cluster member list' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand endpoint; and __fish_seen_subcommand_from hashkv" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand move-leader" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -s i -l interactive -d 'Interactive mode' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l prefix -d 'Watch on a prefix if prefix is set' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l rev -d 'Revision to start watching' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l prev-kv -d 'get the previous key-value pair before the event happens' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l progress-notify -d 'get periodic watch progress notification from server' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand watch" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -f -a "grant" -d 'Creates leases'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -f -a "revoke" -d 'Revokes leases'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -f -a "timetolive" -d 'Get lease information'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -f -a "list" -d 'List all active leases'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and not __fish_seen_subcommand_from grant revoke timetolive list keep-alive" -f -a "keep-alive" -d 'Keeps leases alive (renew)'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l keys -d 'Get keys attached to this lease' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from timetolive" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l once -d 'Resets the keep-alive time to its original value and cobrautl.Exits immediately' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lease; and __fish_seen_subcommand_from keep-alive" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -f -a "add" -d 'Adds a member into the cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -f -a "remove" -d 'Removes a member from the cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -f -a "update" -d 'Updates a member in the cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -f -a "list" -d 'Lists all members in the cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and not __fish_seen_subcommand_from add remove update list promote" -f -a "promote" -d 'Promotes a non-voting member in the cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l peer-urls -d 'comma separated peer URLs for the new member.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l learner -d 'indicates if the new member is raft learner' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l peer-urls -d 'comma separated peer URLs for the updated member.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand member; and __fish_seen_subcommand_from promote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -f -a "save" -d 'Stores an etcd node backend snapshot to a given file'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -f -a "status" -d 'Gets backend snapshot status of a given file'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and not __fish_seen_subcommand_from save status restore" -f -a "restore" -d 'Restores an etcd member snapshot to an etcd directory'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from save" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l data-dir -d 'Path to the data directory' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l wal-dir -d 'Path to the WAL directory (use --data-dir if none given)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-cluster -d 'Initial cluster configuration for restore bootstrap' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-cluster-token -d 'Initial cluster token for the etcd cluster during restore bootstrap' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l initial-advertise-peer-urls -d 'List of this member\'s peer URLs to advertise to the rest of the cluster' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l name -d 'Human-readable name for this member' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l skip-hash-check -d 'Ignore snapshot integrity hash value (required if copied from data directory)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l mark-compacted -d 'Schedule a compaction at the latest revision of the restored data (needed with --bump-revision)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l bump-revision -d 'Raise the latest revision of the restored data by this much (needs --mark-compacted)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand snapshot; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l prefix -d 'Key-value prefix to mirror' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l rev -d 'Specify the kv revision to start to mirror' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l max-txn-ops -d 'Maximum number of operations permitted in a transaction during syncing updates.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-prefix -d 'destination prefix to mirror a prefix to a different prefix in the destination cluster' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l no-dest-prefix -d 'mirror key-values to the root of the destination cluster' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-cert -d 'Identify secure client using this TLS certificate file for the destination cluster' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-key -d 'Identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-cacert -d 'Verify certificates of TLS enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-insecure-transport -d 'Disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-user -d 'Destination username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dest-password -d 'Destination password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand make-mirror" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l ttl -d 'timeout for session' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand lock" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -s l -l listen -d 'observation mode' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand elect" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -f -a "status" -d 'Returns authentication status'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -f -a "enable" -d 'Enables authentication'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and not __fish_seen_subcommand_from status enable disable" -f -a "disable" -d 'Disables authentication'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand auth; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "add" -d 'Adds a new user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "delete" -d 'Deletes a user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "get" -d 'Gets detailed information of a user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "list" -d 'Lists all users'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "passwd" -d 'Changes password of user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "grant-role" -d 'Grants a role to a user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and not __fish_seen_subcommand_from add delete get list passwd grant-role revoke-role" -f -a "revoke-role" -d 'Revokes a role from a user'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l interactive -d 'Read password from stdin instead of interactive terminal' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l new-user-password -d 'Supply password from the command line flag' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l no-password -d 'Create a user without password (CN based auth only)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l detail -d 'Show permissions of roles granted to the user' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l interactive -d 'If true, read password from stdin instead of interactive terminal' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from grant-role" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand user; and __fish_seen_subcommand_from revoke-role" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "add" -d 'Adds a new role'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "delete" -d 'Deletes a role'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "get" -d 'Gets detailed information of a role'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "list" -d 'Lists all roles'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "grant-permission" -d 'Grants a key to a role'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and not __fish_seen_subcommand_from add delete get list grant-permission revoke-permission" -f -a "revoke-permission" -d 'Revokes a key from a role'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l prefix -d 'grant a prefix permission' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l from-key -d 'grant a permission of keys that are greater than or equal to the given key using byte compare' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from grant-permission" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l prefix -d 'revoke a prefix permission' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l from-key -d 'revoke a permission of keys that are greater than or equal to the given key using byte compare' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand role; and __fish_seen_subcommand_from revoke-permission" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -f -a "perf" -d 'Check the performance of the etcd cluster'
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and not __fish_seen_subcommand_from perf datascale" -f -a "datascale" -d 'Check the memory usage of holding data for different workloads on a given server endpoint.'
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l load -d 'The performance check\'s workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l prefix -d 'The prefix for writing the performance check\'s keys.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l auto-compact -d 'Compact storage with last revision after test is finished.' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l auto-defrag -d 'Defragment storage after test is finished.' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from perf" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l load -d 'The datascale check\'s workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l prefix -d 'The prefix for writing the datascale check\'s keys.' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l auto-compact -d 'Compact storage with last revision after test is finished.' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l auto-defrag -d 'Defragment storage after test is finished.' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand check; and __fish_seen_subcommand_from datascale" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -f -a "bash" -d 'Generates the bash completion script'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -f -a "zsh" -d 'Generates the zsh completion script'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and not __fish_seen_subcommand_from bash zsh fish" -f -a "fish" -d 'Generates the fish completion script'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from bash" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from zsh" -s h -l help -d 'Print help'
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l endpoints -d 'gRPC endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l debug -d 'enable client-side debug logging' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -s w -l write-out -d 'set the output format (fields, json, protobuf, simple, table)' -r -f -a "simple\t''
json\t''
fields\t''
protobuf\t''
table\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l hex -d 'print byte strings as hex encoded strings' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l dial-timeout -d 'dial timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l command-timeout -d 'timeout for short running command (excluding dial timeout)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l keepalive-time -d 'keepalive time for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l keepalive-timeout -d 'keepalive timeout for client connections' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l insecure-transport -d 'disable transport security for client connections' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l insecure-discovery -d 'accept insecure SRV records describing cluster endpoints' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l insecure-skip-tls-verify -d 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' -r -f -a "true\t''
false\t''"
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l cert -d 'identify secure client using this TLS certificate file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l key -d 'identify secure client using this TLS key file' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l cacert -d 'verify certificates of TLS-enabled secure servers using this CA bundle' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l user -d 'username[:password] for authentication (prompt if password is not supplied)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l password -d 'password for authentication (if this option is used, --user option shouldn\'t include password)' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -s d -l discovery-srv -d 'domain name to query for SRV records describing cluster endpoints' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -l discovery-srv-name -d 'service name to query when using DNS discovery' -r
complete -c oxctl -n "__fish_oxctl_using_subcommand completion; and __fish_seen_subcommand_from fish" -s h -l help -d 'Print help'
