"""ACLs and authentication through kazoo: digest auth, every permission bit, the `auth` scheme, ip ACLs,
super, whoAmI, and AuthFailed."""

import threading

import pytest
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.protocol.states import KazooState
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

from kazoo_ext import WhoAmI, call
from targets import super_auth


def test_digest_acl_restricts_other_sessions(kz_factory, root):
    owner = kz_factory(auth_data=[("digest", "alice:pw")])
    stranger = kz_factory()
    acl = [make_digest_acl("alice", "pw", all=True)]
    owner.create(f"{root}/secret", b"s", acl=acl)
    assert owner.get(f"{root}/secret")[0] == b"s"
    acls, stat = owner.get_acls(f"{root}/secret")
    assert acls == acl and stat.aversion == 0
    assert stranger.exists(f"{root}/secret") is not None  # exists checks no ACL
    for attempt in (
        lambda: stranger.get(f"{root}/secret"),
        lambda: stranger.set(f"{root}/secret", b"x"),
        lambda: stranger.get_children(f"{root}/secret"),
        lambda: stranger.create(f"{root}/secret/child"),
        lambda: stranger.get_acls(f"{root}/secret"),
        lambda: stranger.set_acls(f"{root}/secret", OPEN_ACL_UNSAFE),
    ):
        with pytest.raises(NoAuthError):
            attempt()
    stranger.add_auth("digest", "alice:pw")
    assert stranger.get(f"{root}/secret")[0] == b"s"


def test_each_permission_bit(kz_factory, root):
    owner = kz_factory(auth_data=[("digest", "bob:pw")])
    other = kz_factory()
    bob_all = make_digest_acl("bob", "pw", all=True)

    def node(name, **perms):
        path = f"{root}/{name}"
        owner.create(path, b"d", acl=[make_acl("world", "anyone", **perms), bob_all])
        return path

    readable = node("r", read=True)
    assert other.get(readable)[0] == b"d"
    with pytest.raises(NoAuthError):
        other.set(readable, b"x")
    writable = node("w", write=True)
    other.set(writable, b"x")
    with pytest.raises(NoAuthError):
        other.get(writable)
    creatable = node("c", create=True)
    other.create(f"{creatable}/kid")
    with pytest.raises(NoAuthError):
        other.delete(f"{creatable}/kid")
    deletable = node("d", delete=True)
    owner.create(f"{deletable}/kid")
    other.delete(f"{deletable}/kid")
    administrable = node("a", admin=True)
    other.set_acls(administrable, OPEN_ACL_UNSAFE)
    assert other.get(administrable)[0] == b"d"


def test_get_acl_masks_digest_without_admin(kz_factory, root):
    owner = kz_factory(auth_data=[("digest", "carol:pw")])
    reader = kz_factory()
    owner.create(f"{root}/n", acl=[make_acl("world", "anyone", read=True), make_digest_acl("carol", "pw", all=True)])
    acls, _ = reader.get_acls(f"{root}/n")
    assert acls[0] == ACL(Permissions.READ, Id("world", "anyone"))
    assert acls[1].id == Id("digest", "carol:x")


def test_auth_scheme_expands_to_session_ids(kz_factory, root):
    owner = kz_factory(auth_data=[("digest", "dave:pw")])
    owner.create(f"{root}/n", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acls, _ = owner.get_acls(f"{root}/n")
    assert acls == [ACL(Permissions.ALL, Id("digest", make_digest_acl_credential("dave", "pw")))]
    anonymous = kz_factory()
    with pytest.raises(InvalidACLError):
        anonymous.create(f"{root}/m", acl=[ACL(Permissions.ALL, Id("auth", ""))])


@pytest.mark.parametrize("acl", [
    [ACL(Permissions.ALL, Id("nosuchscheme", "x"))],
    [ACL(Permissions.ALL, Id("digest", "no-colon"))],
    [ACL(Permissions.ALL, Id("ip", "not-an-address"))],
])
def test_invalid_acls(kz, root, acl):
    with pytest.raises(InvalidACLError):
        kz.create(f"{root}/n", acl=acl)
    kz.create(f"{root}/ok")
    with pytest.raises(InvalidACLError):
        kz.set_acls(f"{root}/ok", acl)


def test_empty_acl_is_invalid_on_the_wire(raw, root):
    from zkwire import ZkError

    with pytest.raises(ZkError) as error:
        raw.create(f"{root}/n", acl=[])
    assert error.value.name == "InvalidACL"


def test_ip_acls(kz, root):
    kz.create(f"{root}/local", b"l", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert kz.get(f"{root}/local")[0] == b"l"
    kz.create(f"{root}/cidr", b"c", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert kz.get(f"{root}/cidr")[0] == b"c"
    kz.create(f"{root}/elsewhere", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
    with pytest.raises(NoAuthError):
        kz.get(f"{root}/elsewhere")


def test_read_only_acl_and_default_config_node(kz, root):
    kz.create(f"{root}/ro", b"r", acl=READ_ACL_UNSAFE)
    with pytest.raises(NoAuthError):
        kz.set(f"{root}/ro", b"x")
    assert kz.get_acls("/zookeeper/config")[0] == READ_ACL_UNSAFE


def test_super_bypasses_acls(kz_factory, root):
    owner = kz_factory()
    owner.create(f"{root}/locked", b"l", acl=[make_acl("digest", "nobody:xxx", all=True)])
    with pytest.raises(NoAuthError):
        owner.get(f"{root}/locked")
    admin = kz_factory(auth_data=[("digest", super_auth())])
    assert admin.get(f"{root}/locked")[0] == b"l"
    admin.set_acls(f"{root}/locked", OPEN_ACL_UNSAFE)
    assert owner.get(f"{root}/locked")[0] == b"l"


def test_who_am_i(kz_factory):
    anonymous = kz_factory()
    assert call(anonymous, WhoAmI()) == [("ip", "127.0.0.1")]
    user = kz_factory(auth_data=[("digest", "erin:pw")])
    assert sorted(call(user, WhoAmI())) == [("digest", "erin"), ("ip", "127.0.0.1")]
    admin = kz_factory(auth_data=[("digest", super_auth())])
    assert sorted(call(admin, WhoAmI())) == [("digest", "super"), ("ip", "127.0.0.1"), ("super", "")]


def test_wrong_digest_password_is_not_an_auth_failure(kz_factory, root):
    owner = kz_factory(auth_data=[("digest", "frank:pw")])
    owner.create(f"{root}/n", acl=[make_digest_acl("frank", "pw", all=True)])
    guesser = kz_factory()
    guesser.add_auth("digest", "frank:wrong")  # accepted: it is just an id nobody granted anything
    with pytest.raises(NoAuthError):
        guesser.get(f"{root}/n")


def test_unknown_auth_scheme_fails_the_session(kz_factory):
    client = kz_factory()
    failed = threading.Event()
    client.add_listener(lambda state: failed.set() if state == KazooState.LOST else None)
    with pytest.raises(AuthFailedError):
        client.add_auth("nosuchscheme", "x")
    assert failed.wait(10)
    with pytest.raises(AuthFailedError):
        client.get("/")
