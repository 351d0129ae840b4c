//! ACL text as zkCli reads and prints it: `scheme:id:perms[,scheme:id:perms...]` with perms drawn from
//! `cdrwa`, printed back as `'scheme,'id` / `: perms`.

use zookeeper_client::{Acl, AuthId, Permission};

/// zkCli's letter for each permission, in the order it prints them.
const LETTERS: [(char, Permission); 5] = [
    ('c', Permission::CREATE),
    ('d', Permission::DELETE),
    ('r', Permission::READ),
    ('w', Permission::WRITE),
    ('a', Permission::ADMIN),
];

/// Parses an ACL list. Like zkCli, malformed entries and unknown permission letters are reported and
/// skipped rather than failing the command (the server then judges what is left); the second value holds
/// those reports.
pub(crate) fn parse(text: &str) -> (Vec<Acl>, Vec<String>) {
    let mut acl = Vec::new();
    let mut warnings = Vec::new();
    for entry in text.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        }
        let id = AuthId::new(&entry[..first], &entry[first + 1..last]);
        let permission = parse_permission(&entry[last + 1..], &mut warnings);
        acl.push(Acl::new(permission, id));
    }
    (acl, warnings)
}

fn parse_permission(letters: &str, warnings: &mut Vec<String>) -> Permission {
    letters.chars().fold(Permission::NONE, |permission, c| match LETTERS.iter().find(|(l, _)| *l == c) {
        Some((_, p)) => permission | *p,
        None => {
            warnings.push(format!("Unknown perm type: {c}"));
            permission
        }
    })
}

/// `cdrwa`-style letters for a permission, in zkCli's order.
pub(crate) fn permission_letters(permission: Permission) -> String {
    LETTERS.iter().filter(|(_, p)| permission.has(*p)).map(|(l, _)| *l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let (acl, warnings) = parse("world:anyone:rw,digest:u:hash=:cdrwa");
        assert!(warnings.is_empty());
        assert_eq!(acl.len(), 2);
        assert_eq!((acl[0].scheme(), acl[0].id()), ("world", "anyone"));
        assert_eq!(acl[0].permission(), Permission::READ | Permission::WRITE);
        assert_eq!((acl[1].scheme(), acl[1].id()), ("digest", "u:hash="));
        assert_eq!(acl[1].permission(), Permission::ALL);
    }

    #[test]
    fn reports_bad_entries_and_letters() {
        let (acl, warnings) = parse("bogus,world:anyone:rq");
        assert_eq!(acl.len(), 1);
        assert_eq!(warnings, ["bogus does not have the form scheme:id:perm", "Unknown perm type: q"]);
    }

    #[test]
    fn prints_letters_in_zkcli_order() {
        assert_eq!(permission_letters(Permission::ALL), "cdrwa");
        assert_eq!(permission_letters(Permission::READ | Permission::CREATE | Permission::ADMIN), "cra");
        assert_eq!(permission_letters(Permission::NONE), "");
    }
}
