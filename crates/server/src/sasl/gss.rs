//! The system's GSSAPI library (MIT Kerberos, `libgssapi_krb5.so.2`), opened at run time with `libloading`
//! so that building Paddock needs no Kerberos headers: the few RFC 2744 functions a SASL GSSAPI acceptor
//! calls are declared here by hand, with MIT's C layout on Unix (`OM_uint32` is a 32-bit unsigned integer,
//! `size_t` lengths, opaque handles as pointers).
//!
//! All of Paddock's `unsafe` for Kerberos is in this module. Outside it there are three safe types:
//! [`Gss`] (the loaded library), [`Acceptor`] (the server's credential from its keytab) and [`Context`]
//! (one client's security context). Each owns its C handle and releases it on drop, and every call takes
//! `&mut self` on the context, so a handle is never used by two threads at once.

use std::ffi::{CString, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::{Arc, OnceLock};

/// The library's name as Debian, Ubuntu, Fedora and Alpine install it (package `libgssapi-krb5-2`).
pub const LIBRARY: &str = "libgssapi_krb5.so.2";
/// An environment variable naming another library file to load instead (a path, or a name the dynamic
/// loader looks up), for systems that install MIT Kerberos elsewhere.
const LIBRARY_VARIABLE: &str = "PADDOCK_GSSAPI_LIBRARY";

type OmUint32 = u32;
type Name = *mut c_void;
type CredId = *mut c_void;
type CtxId = *mut c_void;

/// `gss_buffer_desc`.
#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

/// `gss_OID_desc`.
#[repr(C)]
struct Oid {
    length: OmUint32,
    elements: *mut c_void,
}

/// `gss_OID_set_desc`.
#[repr(C)]
struct OidSet {
    count: usize,
    elements: *mut Oid,
}

/// `gss_key_value_element_desc` and `gss_key_value_set_desc` (RFC 5588's credential store extension,
/// MIT krb5 1.11 and later): how [`Acceptor::new`] names the keytab without touching `KRB5_KTNAME`.
#[repr(C)]
struct KeyValue {
    key: *const std::ffi::c_char,
    value: *const std::ffi::c_char,
}

#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *mut KeyValue,
}

/// `{1 2 840 113554 1 2 2}`: the Kerberos 5 mechanism.
const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// `{1 2 840 113554 1 2 2 1}`: `GSS_KRB5_NT_PRINCIPAL_NAME`, a name written `service/host@REALM`.
const KRB5_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
const GSS_C_ACCEPT: c_int = 2;
const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// The calling and routine error fields of a major status (`GSS_ERROR()`).
const GSS_ERROR_MASK: OmUint32 = 0xffff_0000;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;

type ImportName = unsafe extern "C" fn(*mut OmUint32, *mut Buffer, *mut Oid, *mut Name) -> OmUint32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut OidSet,
    c_int,
    *const KeyValueSet,
    *mut CredId,
    *mut *mut OidSet,
    *mut OmUint32,
) -> OmUint32;
type AcceptSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    *mut CtxId,
    CredId,
    *mut Buffer,
    *mut c_void,
    *mut Name,
    *mut *mut Oid,
    *mut Buffer,
    *mut OmUint32,
    *mut OmUint32,
    *mut CredId,
) -> OmUint32;
type Wrap =
    unsafe extern "C" fn(*mut OmUint32, CtxId, c_int, OmUint32, *mut Buffer, *mut c_int, *mut Buffer) -> OmUint32;
type Unwrap =
    unsafe extern "C" fn(*mut OmUint32, CtxId, *mut Buffer, *mut Buffer, *mut c_int, *mut OmUint32) -> OmUint32;
type DisplayName = unsafe extern "C" fn(*mut OmUint32, Name, *mut Buffer, *mut *mut Oid) -> OmUint32;
type DisplayStatus =
    unsafe extern "C" fn(*mut OmUint32, OmUint32, c_int, *mut Oid, *mut OmUint32, *mut Buffer) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut Buffer) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut CredId) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut CtxId, *mut Buffer) -> OmUint32;

/// The loaded library and the functions Paddock calls. Loaded once per process and never unloaded, so
/// the function pointers stay valid for the life of the process.
pub struct Gss {
    import_name: ImportName,
    acquire_cred_from: AcquireCredFrom,
    accept_sec_context: AcceptSecContext,
    wrap: Wrap,
    unwrap: Unwrap,
    display_name: DisplayName,
    display_status: DisplayStatus,
    release_buffer: ReleaseBuffer,
    release_name: ReleaseName,
    release_cred: ReleaseCred,
    delete_sec_context: DeleteSecContext,
    _library: libloading::Library,
}

impl std::fmt::Debug for Gss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(LIBRARY)
    }
}

static LOADED: OnceLock<Result<Gss, String>> = OnceLock::new();

impl Gss {
    /// The library, opened on first use. The error names the library and says why it did not load.
    pub fn get() -> Result<&'static Gss, String> {
        LOADED.get_or_init(Gss::load).as_ref().map_err(Clone::clone)
    }

    fn load() -> Result<Gss, String> {
        let file = std::env::var_os(LIBRARY_VARIABLE).unwrap_or_else(|| LIBRARY.into());
        // SAFETY: opening runs the library's initializers. MIT's libgssapi_krb5 only sets up its own
        // mutexes and error tables there, and it is the system library every Kerberos program links.
        let library = unsafe { libloading::Library::new(&file) }
            .map_err(|e| format!("cannot load the GSSAPI library {}: {e}", file.to_string_lossy()))?;
        // SAFETY (each `symbol`): the type each name is read as is its RFC 2744 / RFC 5588 prototype as
        // MIT declares it in <gssapi/gssapi.h> and <gssapi/gssapi_ext.h>, written out above.
        unsafe {
            Ok(Gss {
                import_name: symbol(&library, b"gss_import_name\0")?,
                acquire_cred_from: symbol(&library, b"gss_acquire_cred_from\0")?,
                accept_sec_context: symbol(&library, b"gss_accept_sec_context\0")?,
                wrap: symbol(&library, b"gss_wrap\0")?,
                unwrap: symbol(&library, b"gss_unwrap\0")?,
                display_name: symbol(&library, b"gss_display_name\0")?,
                display_status: symbol(&library, b"gss_display_status\0")?,
                release_buffer: symbol(&library, b"gss_release_buffer\0")?,
                release_name: symbol(&library, b"gss_release_name\0")?,
                release_cred: symbol(&library, b"gss_release_cred\0")?,
                delete_sec_context: symbol(&library, b"gss_delete_sec_context\0")?,
                _library: library,
            })
        }
    }

    /// The text of a major/minor status pair, as `gss_display_status` gives it ("Wrong principal in
    /// request", "Key table entry not found").
    fn status_text(&self, major: OmUint32, minor: OmUint32) -> String {
        let mut parts = Vec::new();
        for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut message_context: OmUint32 = 0;
            // A status may have several messages; a bound keeps a misbehaving library from looping us.
            for _ in 0..8 {
                let mut ignored = 0;
                let mut text = Buffer { length: 0, value: ptr::null_mut() };
                // SAFETY: all pointers are to live locals; the mechanism OID may be null (the default).
                let status = unsafe {
                    (self.display_status)(&mut ignored, code, kind, ptr::null_mut(), &mut message_context, &mut text)
                };
                if status & GSS_ERROR_MASK != 0 {
                    break;
                }
                parts.push(String::from_utf8_lossy(&self.take(&mut text)).into_owned());
                if message_context == 0 {
                    break;
                }
            }
        }
        if parts.is_empty() { format!("GSSAPI status {major:#x}/{minor}") } else { parts.join(": ") }
    }

    /// Copies a buffer the library allocated and releases it.
    fn take(&self, buffer: &mut Buffer) -> Vec<u8> {
        let bytes = if buffer.value.is_null() || buffer.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library filled `buffer` with `length` readable bytes at `value`; they are
            // copied before the buffer is released below.
            unsafe { std::slice::from_raw_parts(buffer.value.cast::<u8>(), buffer.length) }.to_vec()
        };
        let mut ignored = 0;
        // SAFETY: `buffer` came from the library (or is empty, which release accepts) and is released once:
        // the call sets it to empty.
        unsafe { (self.release_buffer)(&mut ignored, buffer) };
        bytes
    }

    /// The printable form of a name the library gave us, releasing the name.
    fn name_text(&self, name: &mut Name) -> Result<String, String> {
        let mut minor = 0;
        let mut text = Buffer { length: 0, value: ptr::null_mut() };
        // SAFETY: `*name` is a live name from the library; the output pointers are locals.
        let major = unsafe { (self.display_name)(&mut minor, *name, &mut text, ptr::null_mut()) };
        let result = if major & GSS_ERROR_MASK != 0 {
            Err(self.status_text(major, minor))
        } else {
            String::from_utf8(self.take(&mut text)).map_err(|_| "the client's principal is not UTF-8".to_string())
        };
        let mut ignored = 0;
        // SAFETY: released once; the call sets `*name` to GSS_C_NO_NAME.
        unsafe { (self.release_name)(&mut ignored, name) };
        result
    }
}

/// Reads one function from the library.
///
/// # Safety
/// `T` must be the function's true C type.
unsafe fn symbol<T: Copy>(library: &libloading::Library, name: &[u8]) -> Result<T, String> {
    // SAFETY: the caller vouches for `T`; the copied pointer outlives nothing, because the library is
    // kept loaded for the life of the process (in `LOADED`).
    unsafe { library.get::<T>(name) }.map(|s| *s).map_err(|e| {
        let name = String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name)).into_owned();
        format!("the GSSAPI library {LIBRARY} lacks {name} (MIT Kerberos 1.11 or later is needed): {e}")
    })
}

/// A buffer descriptor pointing at `bytes`, for input arguments: the library only reads through it.
fn input(bytes: &[u8]) -> Buffer {
    Buffer { length: bytes.len(), value: bytes.as_ptr().cast_mut().cast() }
}

/// An OID descriptor for one of the constants above; the library only reads through it.
fn oid(bytes: &'static [u8]) -> Oid {
    Oid { length: bytes.len() as OmUint32, elements: bytes.as_ptr().cast_mut().cast() }
}

/// The server's Kerberos credential: its principal's keys from its keytab, as ZooKeeper's JAAS login with
/// `Krb5LoginModule useKeyTab=true keyTab=... principal=...` gets them.
pub struct Acceptor {
    gss: &'static Gss,
    cred: CredId,
}

// SAFETY: MIT's credential handle is a heap object guarded by its own mutex (krb5_gss_cred_id_rec's
// lock), which gss_accept_sec_context takes; it is not tied to the thread that acquired it. Paddock only
// ever passes it to gss_accept_sec_context and releases it once, in Drop.
unsafe impl Send for Acceptor {}
unsafe impl Sync for Acceptor {}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor")
    }
}

impl Acceptor {
    /// Acquires the accepting credential of `principal` (`service/host@REALM`; without a realm, the
    /// default realm of krb5.conf) from `keytab`, or from the default keytab (`KRB5_KTNAME`,
    /// `/etc/krb5.keytab`) when there is none.
    pub fn new(principal: &str, keytab: Option<&Path>) -> Result<Arc<Acceptor>, String> {
        let gss = Gss::get()?;
        let name = PrincipalName::import(gss, principal)?;
        let keytab = match keytab {
            Some(path) => Some(CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "keytab path holds NUL")?),
            None => None,
        };
        let key = c"keytab";
        let mut elements: Vec<KeyValue> =
            keytab.iter().map(|path| KeyValue { key: key.as_ptr(), value: path.as_ptr() }).collect();
        let store = KeyValueSet { count: elements.len() as OmUint32, elements: elements.as_mut_ptr() };
        let mut mech = oid(KRB5_MECH);
        let mut mechs = OidSet { count: 1, elements: &mut mech };
        let (mut minor, mut cred) = (0, ptr::null_mut());
        // SAFETY: `name` is live; `mechs` and `store` point at locals (and at `keytab`'s C string) that
        // outlive the call, which only reads them; the outputs we do not want are null, as RFC 5588 allows.
        let major = unsafe {
            (gss.acquire_cred_from)(
                &mut minor,
                name.0,
                GSS_C_INDEFINITE,
                &mut mechs,
                GSS_C_ACCEPT,
                &store,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        drop(name);
        if major & GSS_ERROR_MASK != 0 {
            return Err(format!("cannot acquire the credential of {principal}: {}", gss.status_text(major, minor)));
        }
        Ok(Arc::new(Acceptor { gss, cred }))
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let mut ignored = 0;
        // SAFETY: `cred` came from gss_acquire_cred_from and is released only here.
        unsafe { (self.gss.release_cred)(&mut ignored, &mut self.cred) };
    }
}

/// An imported name, released on drop.
struct PrincipalName(Name, &'static Gss);

impl PrincipalName {
    fn import(gss: &'static Gss, principal: &str) -> Result<PrincipalName, String> {
        let mut buffer = input(principal.as_bytes());
        let mut kind = oid(KRB5_PRINCIPAL_NAME);
        let (mut minor, mut name) = (0, ptr::null_mut());
        // SAFETY: `buffer` points at `principal`'s bytes and `kind` at a static OID, both only read; `name`
        // is a local the library fills.
        let major = unsafe { (gss.import_name)(&mut minor, &mut buffer, &mut kind, &mut name) };
        if major & GSS_ERROR_MASK != 0 {
            return Err(format!("invalid principal {principal}: {}", gss.status_text(major, minor)));
        }
        Ok(PrincipalName(name, gss))
    }
}

impl Drop for PrincipalName {
    fn drop(&mut self) {
        let mut ignored = 0;
        // SAFETY: the name came from gss_import_name and is released only here.
        unsafe { (self.1.release_name)(&mut ignored, &mut self.0) };
    }
}

/// What one context-establishment token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// The context is established: send `token` (the AP-REP when the client asked for mutual
    /// authentication; may be empty). `client` is the client's principal, `name@REALM`.
    Established { token: Vec<u8>, client: String },
}

/// One client's security context: accepting, then (un)wrapping the SASL security-layer messages.
pub struct Context {
    acceptor: Arc<Acceptor>,
    ctx: CtxId,
}

// SAFETY: a context handle is a heap object not tied to a thread; `Context` owns it alone, every call
// takes `&mut self` (no concurrent use), and Drop deletes it once.
unsafe impl Send for Context {}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context")
    }
}

impl Context {
    pub fn new(acceptor: Arc<Acceptor>) -> Context {
        Context { acceptor, ctx: ptr::null_mut() }
    }

    /// Feeds a client token to `gss_accept_sec_context`. The error is the library's reason, for the log.
    pub fn accept(&mut self, token: &[u8]) -> Result<Accepted, String> {
        let gss = self.acceptor.gss;
        let mut input = input(token);
        let mut output = Buffer { length: 0, value: ptr::null_mut() };
        let (mut minor, mut src_name) = (0, ptr::null_mut());
        // SAFETY: `self.ctx` is null or the context this same call returned before (owned by us);
        // the credential is live (held by the Arc); `input` points at `token`, only read; channel
        // bindings, mechanism, flags, time and delegated credential outputs are null, which RFC 2744
        // allows; `src_name` and `output` are locals we release below.
        let major = unsafe {
            (gss.accept_sec_context)(
                &mut minor,
                &mut self.ctx,
                self.acceptor.cred,
                &mut input,
                ptr::null_mut(),
                &mut src_name,
                ptr::null_mut(),
                &mut output,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let token = gss.take(&mut output);
        if major & GSS_ERROR_MASK != 0 {
            if !src_name.is_null() {
                let _ = gss.name_text(&mut src_name);
            }
            return Err(gss.status_text(major, minor));
        }
        if major & GSS_S_CONTINUE_NEEDED != 0 {
            if !src_name.is_null() {
                let _ = gss.name_text(&mut src_name);
            }
            return Ok(Accepted::Continue(token));
        }
        if src_name.is_null() {
            return Err("the GSSAPI library named no client".to_string());
        }
        Ok(Accepted::Established { token, client: gss.name_text(&mut src_name)? })
    }

    /// `gss_wrap` without confidentiality (integrity only), as the SASL security-layer offer is sent.
    pub fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let gss = self.acceptor.gss;
        let mut input = input(message);
        let mut output = Buffer { length: 0, value: ptr::null_mut() };
        let mut minor = 0;
        // SAFETY: only called once `accept` established `self.ctx` (a null context fails cleanly with
        // GSS_S_NO_CONTEXT anyway); `input` is only read; `output` is released by `take`.
        let major = unsafe { (gss.wrap)(&mut minor, self.ctx, 0, 0, &mut input, ptr::null_mut(), &mut output) };
        let wrapped = gss.take(&mut output);
        if major & GSS_ERROR_MASK != 0 {
            return Err(gss.status_text(major, minor));
        }
        Ok(wrapped)
    }

    /// `gss_unwrap` of a client's message: its plaintext once its integrity checks out.
    pub fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let gss = self.acceptor.gss;
        let mut input = input(message);
        let mut output = Buffer { length: 0, value: ptr::null_mut() };
        let mut minor = 0;
        // SAFETY: as in `wrap`; the library validates the token's framing and checksum itself.
        let major =
            unsafe { (gss.unwrap)(&mut minor, self.ctx, &mut input, &mut output, ptr::null_mut(), ptr::null_mut()) };
        let plain = gss.take(&mut output);
        if major & GSS_ERROR_MASK != 0 {
            return Err(gss.status_text(major, minor));
        }
        Ok(plain)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.ctx.is_null() {
            return;
        }
        let mut ignored = 0;
        // SAFETY: the context came from gss_accept_sec_context and is deleted only here; no output token.
        unsafe { (self.acceptor.gss.delete_sec_context)(&mut ignored, &mut self.ctx, ptr::null_mut()) };
    }
}

/// Points the Kerberos library at `path` for its configuration (`KRB5_CONFIG`), as
/// `-Djava.security.krb5.conf` points Java's Kerberos at it. Must be called before the library is loaded.
pub fn use_config_file(path: &Path) {
    if std::env::var_os("KRB5_CONFIG").is_some_and(|current| current == path.as_os_str()) {
        return;
    }
    // SAFETY: the Kerberos library reads its configuration file only from this variable, so there is no
    // other way to honour the setting. It is set while the configuration is read at start-up, before
    // the server has spawned a task and before the GSSAPI library is used: no other thread is reading or
    // writing the environment then (the async runtime's workers are parked, and Paddock reads its own
    // variables once, before the configuration).
    unsafe { std::env::set_var("KRB5_CONFIG", path) };
}
