// A function that moves out of init-only code (so it would be needed after boot)
// is refused even though its bytes did not change.
//#ExpectOutcome: refused
//#ExpectRefusal: InitCode probe_hw init-only code
int hw_state;
//-__attribute__((section(".init.text"), noinline)) int probe_hw(int v) { hw_state = v * 3; return v + 100; }
//+__attribute__((noinline)) int probe_hw(int v) { hw_state = v * 3; return v + 100; }
