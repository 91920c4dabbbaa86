// The image's file symbols carry the directory (Xen's build rewrites `STT_FILE`
// to the path relative to `xen/`) while the objects diffed have the base name:
// a changed static function and the static it uses are found under the path.
//#ImageFilePrefix: arch/x86/
//#ExpectOutcome: payload
//#ExpectPatched: arch/x86/file_prefix.c#bump
//#ExpectUndefined: arch/x86/file_prefix.c#counter
static int counter;

static __attribute__((noinline)) int bump(int v)
{
//- counter += v;
//+ counter += v * 2;
  return counter;
}

int entry(int v)
{
  return bump(v) + 1;
}
