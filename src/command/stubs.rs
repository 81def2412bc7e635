//! etcdctl commands that oxctl lists but does not implement yet (names,
//! synopses and one-line descriptions only), so that `--help`, prefix
//! matching and "Did you mean this?" suggestions match etcdctl's.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// Returns authentication status
    #[command(override_usage = "status")]
    Status,
    /// Enables authentication
    #[command(override_usage = "enable")]
    Enable,
    /// Disables authentication
    #[command(override_usage = "disable")]
    Disable,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Adds a new user
    #[command(override_usage = "add <user name or user:password> [options]")]
    Add,
    /// Deletes a user
    #[command(override_usage = "delete <user name>")]
    Delete,
    /// Gets detailed information of a user
    #[command(override_usage = "get <user name> [options]")]
    Get,
    /// Lists all users
    #[command(override_usage = "list")]
    List,
    /// Changes password of user
    #[command(override_usage = "passwd <user name> [options]")]
    Passwd,
    /// Grants a role to a user
    #[command(override_usage = "grant-role <user name> <role name>")]
    GrantRole,
    /// Revokes a role from a user
    #[command(override_usage = "revoke-role <user name> <role name>")]
    RevokeRole,
}

#[derive(Subcommand, Debug)]
pub enum RoleCmd {
    /// Adds a new role
    #[command(override_usage = "add <role name>")]
    Add,
    /// Deletes a role
    #[command(override_usage = "delete <role name>")]
    Delete,
    /// Gets detailed information of a role
    #[command(override_usage = "get <role name>")]
    Get,
    /// Lists all roles
    #[command(override_usage = "list")]
    List,
    /// Grants a key to a role
    #[command(
        override_usage = "grant-permission [options] <role name> <permission type> <key> [endkey]"
    )]
    GrantPermission,
    /// Revokes a key from a role
    #[command(override_usage = "revoke-permission <role name> <key> [endkey]")]
    RevokePermission,
}

#[derive(Subcommand, Debug)]
pub enum CheckCmd {
    /// Check the performance of the etcd cluster
    #[command(override_usage = "perf [options]")]
    Perf,
    #[command(
        about = "Check the memory usage of holding data for different workloads on a given server endpoint.",
        override_usage = "datascale [options]"
    )]
    Datascale,
}
