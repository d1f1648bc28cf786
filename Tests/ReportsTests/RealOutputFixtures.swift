// Generated from real tool output captured on this machine (Debian 12) by running each tool on a tiny
// project in a temporary directory; see the comment on each fixture for what ran. Control characters
// are written as escapes (\#u{1B} is ESC, \#r a carriage return); trailing newlines are dropped. The only edit:
// Debian's mocha prints "undefined" instead of its check mark (a broken log-symbols package), replaced by "✔".

enum RealOutput {
    /// pytest 9.0.3, default output: 3 passed, 1 failed, 2 skipped
    static let pytestMixed = #"""
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 6 items

test_a.py ...Fss                                                         [100%]

=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

>   def test_bad(): assert 1 + 1 == 3
                    ^^^^^^^^^^^^^^^^^
E   assert (1 + 1) == 3

test_a.py:5: AssertionError
=========================== short test summary info ============================
FAILED test_a.py::test_bad - assert (1 + 1) == 3
==================== 1 failed, 3 passed, 2 skipped in 0.71s ====================
"""#

    /// pytest 9.0.3 --color=yes (ANSI colours)
    static let pytestColor = #"""
\#u{1B}[1m============================= test session starts ==============================\#u{1B}[0m
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 6 items

test_a.py \#u{1B}[32m.\#u{1B}[0m\#u{1B}[32m.\#u{1B}[0m\#u{1B}[32m.\#u{1B}[0m\#u{1B}[31mF\#u{1B}[0m\#u{1B}[33ms\#u{1B}[0m\#u{1B}[33ms\#u{1B}[0m\#u{1B}[31m                                                         [100%]\#u{1B}[0m

=================================== FAILURES ===================================
\#u{1B}[31m\#u{1B}[1m___________________________________ test_bad ___________________________________\#u{1B}[0m

>   \#u{1B}[0m\#u{1B}[94mdef\#u{1B}[39;49;00m\#u{1B}[90m \#u{1B}[39;49;00m\#u{1B}[92mtest_bad\#u{1B}[39;49;00m(): \#u{1B}[94massert\#u{1B}[39;49;00m \#u{1B}[94m1\#u{1B}[39;49;00m + \#u{1B}[94m1\#u{1B}[39;49;00m == \#u{1B}[94m3\#u{1B}[39;49;00m\#u{1B}[90m\#u{1B}[39;49;00m
                    ^^^^^^^^^^^^^^^^^\#u{1B}[90m\#u{1B}[39;49;00m
\#u{1B}[1m\#u{1B}[31mE   assert (1 + 1) == 3\#u{1B}[0m

\#u{1B}[1m\#u{1B}[31mtest_a.py\#u{1B}[0m:5: AssertionError
\#u{1B}[36m\#u{1B}[1m=========================== short test summary info ============================\#u{1B}[0m
\#u{1B}[31mFAILED\#u{1B}[0m test_a.py::\#u{1B}[1mtest_bad\#u{1B}[0m - assert (1 + 1) == 3
\#u{1B}[31m==================== \#u{1B}[31m\#u{1B}[1m1 failed\#u{1B}[0m, \#u{1B}[32m3 passed\#u{1B}[0m, \#u{1B}[33m2 skipped\#u{1B}[0m\#u{1B}[31m in 0.75s\#u{1B}[0m\#u{1B}[31m ====================\#u{1B}[0m
"""#

    /// pytest 9.0.3 -q: summary without the ===== banner
    static let pytestQuiet = #"""
...Fss                                                                   [100%]
=================================== FAILURES ===================================
___________________________________ test_bad ___________________________________

>   def test_bad(): assert 1 + 1 == 3
                    ^^^^^^^^^^^^^^^^^
E   assert (1 + 1) == 3

test_a.py:5: AssertionError
=========================== short test summary info ============================
FAILED test_a.py::test_bad - assert (1 + 1) == 3
1 failed, 3 passed, 2 skipped in 0.70s
"""#

    /// pytest 9.0.3 -m 'not slow': failed, error, xfailed, xpassed, deselected, warning
    static let pytestErrorsXfail = #"""
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py2
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 7 items / 1 deselected / 6 selected

test_b.py ..ExXF                                                         [100%]

==================================== ERRORS ====================================
__________________________ ERROR at setup of test_err __________________________

    @pytest.fixture
>   def broken(): raise RuntimeError("fixture boom")
                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
E   RuntimeError: fixture boom

test_b.py:3: RuntimeError
=================================== FAILURES ===================================
__________________________________ test_fail ___________________________________

>   def test_fail(): assert 0
                     ^^^^^^^^
E   assert 0

test_b.py:13: AssertionError
=============================== warnings summary ===============================
test_b.py:11
  /tmp/rfx/py2/test_b.py:11: PytestUnknownMarkWarning: Unknown pytest.mark.slow - is this a typo?  You can register custom marks to avoid this warning - for details, see https://docs.pytest.org/en/stable/how-to/mark.html
    @pytest.mark.slow

-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html
=========================== short test summary info ============================
FAILED test_b.py::test_fail - assert 0
ERROR test_b.py::test_err - RuntimeError: fixture boom
= 1 failed, 2 passed, 1 deselected, 1 xfailed, 1 xpassed, 1 warning, 1 error in 0.68s =
"""#

    /// pytest 9.0.3 in an empty directory (exit 5)
    static let pytestNoTests = #"""
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py3
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 0 items

============================ no tests ran in 0.64s =============================
"""#

    /// pytest 9.0.3, everything passes
    static let pytestAllPassed = #"""
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py4
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 2 items

test_c.py ..                                                             [100%]

============================== 2 passed in 0.64s ===============================
"""#

    /// pytest 9.0.3 with an import error during collection
    static let pytestCollectionError = #"""
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.0.3, pluggy-1.6.0
benchmark: 5.2.3 (defaults: timer=time.perf_counter disable_gc=False min_rounds=5 min_time=0.000005 max_time=1.0 calibration_precision=10 warmup=False warmup_iterations=100000)
rootdir: /tmp/rfx/py5
plugins: hypothesis-6.155.2, benchmark-5.2.3
collected 0 items / 1 error

==================================== ERRORS ====================================
__________________________ ERROR collecting test_d.py __________________________
ImportError while importing test module '/tmp/rfx/py5/test_d.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
test_d.py:1: in <module>
    import nonexistent_mod
E   ModuleNotFoundError: No module named 'nonexistent_mod'
=========================== short test summary info ============================
ERROR test_d.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 0.72s ===============================
"""#

    /// cargo 1.95 test --no-fail-fast: unit tests (one failing, one ignored), an integration test, doc tests
    static let cargoMultiBinary = #"""
   Compiling mini v0.1.0 (/tmp/rfx/mini)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 2.25s
     Running unittests src/lib.rs (target/debug/deps/mini-bfa2879a9b322553)

running 4 tests
test tests::also_works ... ok
test tests::slow ... ignored
test tests::works ... ok
test tests::broken ... FAILED

failures:

---- tests::broken stdout ----

thread 'tests::broken' (16054) panicked at src/lib.rs:14:27:
assertion `left == right` failed
  left: 4
 right: 5
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_fmt
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14
   2: core::panicking::assert_failed_inner
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:439:17
   3: core::panicking::assert_failed::<u64, u64>
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:394:5
   4: mini::tests::broken
             at ./src/lib.rs:14:27
   5: mini::tests::broken::{{closure}}
             at ./src/lib.rs:14:24
   6: core::ops::function::FnOnce::call_once
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5
   7: <fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    tests::broken

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.08s

error: test failed, to rerun pass `--lib`
     Running tests/it.rs (target/debug/deps/it-c0d943168cfefb18)

running 2 tests
test integ_one ... ok
test integ_two ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests mini

running 1 test
test src/lib.rs - add (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

all doctests ran in 0.18s; merged doctests compilation took 0.18s
error: 1 target failed:
    `--lib`
"""#

    /// the same on a terminal: ANSI colours, CRLF line ends
    static let cargoTTY = #"""
\#u{1B}[1m\#u{1B}[92m    Finished\#u{1B}[0m `test` profile [unoptimized + debuginfo] target(s) in 0.02s\#r
\#u{1B}[1m\#u{1B}[92m     Running\#u{1B}[0m unittests src/lib.rs (target/debug/deps/mini-bfa2879a9b322553)\#r
\#r
running 4 tests\#r
test tests::also_works ... \#u{1B}[32mok\#u{1B}(B\#u{1B}[m\#r
test tests::slow ... \#u{1B}[33mignored\#u{1B}(B\#u{1B}[m\#r
test tests::works ... \#u{1B}[32mok\#u{1B}(B\#u{1B}[m\#r
test tests::broken ... \#u{1B}[31mFAILED\#u{1B}(B\#u{1B}[m\#r
\#r
failures:\#r
\#r
---- tests::broken stdout ----\#r
\#r
thread 'tests::broken' (11585) panicked at src/lib.rs:14:27:\#r
assertion `left == right` failed\#r
  left: 4\#r
 right: 5\#r
stack backtrace:\#r
   0: __rustc::rust_begin_unwind\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\#r
   1: core::panicking::panic_fmt\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\#r
   2: core::panicking::assert_failed_inner\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:439:17\#r
   3: core::panicking::assert_failed::<u64, u64>\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:394:5\#r
   4: mini::tests::broken\#r
             at ./src/lib.rs:14:27\#r
   5: mini::tests::broken::{{closure}}\#r
             at ./src/lib.rs:14:24\#r
   6: core::ops::function::FnOnce::call_once\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\#r
   7: <fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once\#r
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\#r
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\#r
\#r
\#r
failures:\#r
    tests::broken\#r
\#r
test result: \#u{1B}[31mFAILED\#u{1B}(B\#u{1B}[m. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.20s\#r
\#r
\#u{1B}[1m\#u{1B}[91merror\#u{1B}[0m: test failed, to rerun pass `--lib`\#r
\#u{1B}[1m\#u{1B}[92m     Running\#u{1B}[0m tests/it.rs (target/debug/deps/it-c0d943168cfefb18)\#r
\#r
running 2 tests\#r
test integ_one ... \#u{1B}[32mok\#u{1B}(B\#u{1B}[m\#r
test integ_two ... \#u{1B}[32mok\#u{1B}(B\#u{1B}[m\#r
\#r
test result: \#u{1B}[32mok\#u{1B}(B\#u{1B}[m. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\#r
\#r
\#u{1B}[1m\#u{1B}[92m   Doc-tests\#u{1B}[0m mini\#r
\#r
running 1 test\#r
test src/lib.rs - add (line 3) ... \#u{1B}[32mok\#u{1B}(B\#u{1B}[m\#r
\#r
test result: \#u{1B}[32mok\#u{1B}(B\#u{1B}[m. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\#r
\#r
all doctests ran in 0.54s; merged doctests compilation took 0.53s\#r
\#u{1B}[1m\#u{1B}[91merror\#u{1B}[0m: 1 target failed:\#r
    `--lib`\#r
"""#

    /// go 1.19 test -v ./... over two packages, with subtests and a skip
    static let goVerbose = #"""
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestTable
=== RUN   TestTable/zero
=== RUN   TestTable/one
=== RUN   TestTable/two
    a_test.go:15: got 2 want 3
--- FAIL: TestTable (0.00s)
    --- PASS: TestTable/zero (0.00s)
    --- PASS: TestTable/one (0.00s)
    --- FAIL: TestTable/two (0.00s)
=== RUN   TestSkipped
    a_test.go:21: needs network
--- SKIP: TestSkipped (0.00s)
FAIL
FAIL\#texample.com/mini/pkga\#t0.002s
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestOther
--- PASS: TestOther (0.00s)
PASS
ok  \#texample.com/mini/pkgb\#t0.003s
FAIL
"""#

    /// go 1.19 test ./... (no -v): failures only
    static let goQuiet = #"""
--- FAIL: TestTable (0.00s)
    --- FAIL: TestTable/two (0.00s)
        a_test.go:15: got 2 want 3
FAIL
FAIL\#texample.com/mini/pkga\#t0.009s
ok  \#texample.com/mini/pkgb\#t0.002s
FAIL
"""#

    /// node 20 --test, piped (TAP reporter)
    static let nodeTap = #"""
TAP version 13
# Subtest: adds
ok 1 - adds
  ---
  duration_ms: 1.375869
  ...
# Subtest: subtracts
ok 2 - subtracts
  ---
  duration_ms: 0.156914
  ...
# Subtest: multiplies
ok 3 - multiplies
  ---
  duration_ms: 0.185037
  ...
# Subtest: divides
not ok 4 - divides
  ---
  duration_ms: 1.385929
  location: '/tmp/rfx/nodet/a.test.js:6:1'
  failureType: 'testCodeFailure'
  error: |-
    Expected values to be strictly equal:
    
    2 !== 3
    
  code: 'ERR_ASSERTION'
  name: 'AssertionError'
  expected: 3
  actual: 2
  operator: 'strictEqual'
  stack: |-
    TestContext.<anonymous> (/tmp/rfx/nodet/a.test.js:6:32)
    Test.runInAsyncScope (node:async_hooks:206:9)
    Test.run (node:internal/test_runner/test:796:25)
    Test.processPendingSubtests (node:internal/test_runner/test:526:18)
    Test.postRun (node:internal/test_runner/test:889:19)
    Test.run (node:internal/test_runner/test:835:12)
    async Test.processPendingSubtests (node:internal/test_runner/test:526:7)
  ...
# Subtest: later
ok 5 - later # SKIP not yet
  ---
  duration_ms: 0.227125
  ...
# Subtest: eventually
ok 6 - eventually # TODO
  ---
  duration_ms: 0.151214
  ...
1..6
# tests 6
# suites 0
# pass 3
# fail 1
# cancelled 0
# skipped 1
# todo 1
# duration_ms 129.44689
"""#

    /// node 20 --test --test-reporter=spec, piped
    static let nodeSpec = #"""
✔ adds (1.460408ms)
✔ subtracts (0.150362ms)
✔ multiplies (0.155251ms)
✖ divides (1.338951ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  2 !== 3
  
      at TestContext.<anonymous> (/tmp/rfx/nodet/a.test.js:6:32)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at Test.run (node:internal/test_runner/test:796:25)
      at Test.processPendingSubtests (node:internal/test_runner/test:526:18)
      at Test.postRun (node:internal/test_runner/test:889:19)
      at Test.run (node:internal/test_runner/test:835:12)
      at async Test.processPendingSubtests (node:internal/test_runner/test:526:7) {
    generatedMessage: true,
    code: 'ERR_ASSERTION',
    actual: 2,
    expected: 3,
    operator: 'strictEqual'
  }

﹣ later (0.198572ms) # not yet
✔ eventually (0.152315ms) # TODO
ℹ tests 6
ℹ suites 0
ℹ pass 3
ℹ fail 1
ℹ cancelled 0
ℹ skipped 1
ℹ todo 1
ℹ duration_ms 131.28172

✖ failing tests:

test at a.test.js:6:1
✖ divides (1.338951ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  2 !== 3
  
      at TestContext.<anonymous> (/tmp/rfx/nodet/a.test.js:6:32)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at Test.run (node:internal/test_runner/test:796:25)
      at Test.processPendingSubtests (node:internal/test_runner/test:526:18)
      at Test.postRun (node:internal/test_runner/test:889:19)
      at Test.run (node:internal/test_runner/test:835:12)
      at async Test.processPendingSubtests (node:internal/test_runner/test:526:7) {
    generatedMessage: true,
    code: 'ERR_ASSERTION',
    actual: 2,
    expected: 3,
    operator: 'strictEqual'
  }
"""#

    /// node 20 --test on a terminal (spec reporter, ANSI colours, CRLF)
    static let nodeTTY = #"""
\#u{1B}[32m✔ adds \#u{1B}[90m(1.469756ms)\#u{1B}[39m\#u{1B}[39m\#r
\#u{1B}[32m✔ subtracts \#u{1B}[90m(0.15493ms)\#u{1B}[39m\#u{1B}[39m\#r
\#u{1B}[32m✔ multiplies \#u{1B}[90m(0.162785ms)\#u{1B}[39m\#u{1B}[39m\#r
\#u{1B}[31m✖ divides \#u{1B}[90m(1.391099ms)\#u{1B}[39m\#u{1B}[39m\#r
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\#r
  \#r
  2 !== 3\#r
  \#r
      at TestContext.<anonymous> \#u{1B}[90m(/tmp/rfx/nodet/\#u{1B}[39ma.test.js:6:32\#u{1B}[90m)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.runInAsyncScope (node:async_hooks:206:9)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.run (node:internal/test_runner/test:796:25)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.processPendingSubtests (node:internal/test_runner/test:526:18)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.postRun (node:internal/test_runner/test:889:19)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.run (node:internal/test_runner/test:835:12)\#u{1B}[39m\#r
  \#u{1B}[90m    at async Test.processPendingSubtests (node:internal/test_runner/test:526:7)\#u{1B}[39m {\#r
    generatedMessage: \#u{1B}[33mtrue\#u{1B}[39m,\#r
    code: \#u{1B}[32m'ERR_ASSERTION'\#u{1B}[39m,\#r
    actual: \#u{1B}[33m2\#u{1B}[39m,\#r
    expected: \#u{1B}[33m3\#u{1B}[39m,\#r
    operator: \#u{1B}[32m'strictEqual'\#u{1B}[39m\#r
  }\#r
\#r
\#u{1B}[90m﹣ later \#u{1B}[90m(0.206287ms)\#u{1B}[39m # not yet\#u{1B}[39m\#r
\#u{1B}[32m✔ eventually \#u{1B}[90m(0.169197ms)\#u{1B}[39m # TODO\#u{1B}[39m\#r
\#u{1B}[34mℹ tests 6\#u{1B}[39m\#r
\#u{1B}[34mℹ suites 0\#u{1B}[39m\#r
\#u{1B}[34mℹ pass 3\#u{1B}[39m\#r
\#u{1B}[34mℹ fail 1\#u{1B}[39m\#r
\#u{1B}[34mℹ cancelled 0\#u{1B}[39m\#r
\#u{1B}[34mℹ skipped 1\#u{1B}[39m\#r
\#u{1B}[34mℹ todo 1\#u{1B}[39m\#r
\#u{1B}[34mℹ duration_ms 186.265292\#u{1B}[39m\#r
\#r
\#u{1B}[31m✖ failing tests:\#u{1B}[39m\#r
\#r
test at a.test.js:6:1\#r
\#u{1B}[31m✖ divides \#u{1B}[90m(1.391099ms)\#u{1B}[39m\#u{1B}[39m\#r
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\#r
  \#r
  2 !== 3\#r
  \#r
      at TestContext.<anonymous> \#u{1B}[90m(/tmp/rfx/nodet/\#u{1B}[39ma.test.js:6:32\#u{1B}[90m)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.runInAsyncScope (node:async_hooks:206:9)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.run (node:internal/test_runner/test:796:25)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.processPendingSubtests (node:internal/test_runner/test:526:18)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.postRun (node:internal/test_runner/test:889:19)\#u{1B}[39m\#r
  \#u{1B}[90m    at Test.run (node:internal/test_runner/test:835:12)\#u{1B}[39m\#r
  \#u{1B}[90m    at async Test.processPendingSubtests (node:internal/test_runner/test:526:7)\#u{1B}[39m {\#r
    generatedMessage: \#u{1B}[33mtrue\#u{1B}[39m,\#r
    code: \#u{1B}[32m'ERR_ASSERTION'\#u{1B}[39m,\#r
    actual: \#u{1B}[33m2\#u{1B}[39m,\#r
    expected: \#u{1B}[33m3\#u{1B}[39m,\#r
    operator: \#u{1B}[32m'strictEqual'\#u{1B}[39m\#r
  }\#r
"""#

    /// ctest 3.25: 3 pass, 1 fail, 1 skipped via SKIP_RETURN_CODE
    static let ctestMixed = #"""
Test project /tmp/rfx/ct/build
    Start 1: passes_one
1/5 Test #1: passes_one .......................   Passed    0.00 sec
    Start 2: passes_two
2/5 Test #2: passes_two .......................   Passed    0.00 sec
    Start 3: passes_three
3/5 Test #3: passes_three .....................   Passed    0.00 sec
    Start 4: fails
4/5 Test #4: fails ............................***Failed    0.00 sec
    Start 5: skipped
5/5 Test #5: skipped ..........................***Skipped   0.00 sec

80% tests passed, 1 tests failed out of 5

Total Test time (real) =   0.01 sec

The following tests did not run:
\#t  5 - skipped (Skipped)

The following tests FAILED:
\#t  4 - fails (Failed)
Errors while running CTest
Output from these tests are in: /tmp/rfx/ct/build/Testing/Temporary/LastTest.log
Use "--rerun-failed --output-on-failure" to re-run the failed cases verbosely.
"""#

    /// ctest 3.25: as above plus a DISABLED test (not in the total)
    static let ctestWithDisabled = #"""
Test project /tmp/rfx/ct/build
    Start 1: passes_one
1/6 Test #1: passes_one .......................   Passed    0.00 sec
    Start 2: passes_two
2/6 Test #2: passes_two .......................   Passed    0.00 sec
    Start 3: passes_three
3/6 Test #3: passes_three .....................   Passed    0.01 sec
    Start 4: fails
4/6 Test #4: fails ............................***Failed    0.00 sec
    Start 5: skipped
5/6 Test #5: skipped ..........................***Skipped   0.00 sec
    Start 6: off
6/6 Test #6: off ..............................***Not Run (Disabled)   0.00 sec

80% tests passed, 1 tests failed out of 5

Total Test time (real) =   0.02 sec

The following tests did not run:
\#t  5 - skipped (Skipped)
\#t  6 - off (Disabled)

The following tests FAILED:
\#t  4 - fails (Failed)
Errors while running CTest
Output from these tests are in: /tmp/rfx/ct/build/Testing/Temporary/LastTest.log
Use "--rerun-failed --output-on-failure" to re-run the failed cases verbosely.
"""#

    /// ctest 3.25 -R passes
    static let ctestAllPassed = #"""
Test project /tmp/rfx/ct/build
    Start 1: passes_one
1/3 Test #1: passes_one .......................   Passed    0.00 sec
    Start 2: passes_two
2/3 Test #2: passes_two .......................   Passed    0.00 sec
    Start 3: passes_three
3/3 Test #3: passes_three .....................   Passed    0.00 sec

100% tests passed, 0 tests failed out of 3

Total Test time (real) =   0.01 sec
"""#

    /// mocha 10.1 (Debian): 3 passing, 2 pending, 1 failing
    static let mocha = #"""


  math
    ✔ adds
    ✔ subtracts
    ✔ multiplies
    1) divides
    - later
    - todo


  3 passing (16ms)
  2 pending
  1 failing

  1) math
       divides:

      AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:

2 !== 3

      + expected - actual

      -2
      +3
      
      at Context.<anonymous> (test.js:6:38)
      at callFn (/usr/share/nodejs/mocha/lib/runnable.js:366:21)
      at Runnable.run (/usr/share/nodejs/mocha/lib/runnable.js:354:5)
      at Runner.runTest (/usr/share/nodejs/mocha/lib/runner.js:666:10)
      at /usr/share/nodejs/mocha/lib/runner.js:789:12
      at next (/usr/share/nodejs/mocha/lib/runner.js:581:14)
      at /usr/share/nodejs/mocha/lib/runner.js:591:7
      at next (/usr/share/nodejs/mocha/lib/runner.js:474:14)
      at Immediate._onImmediate (/usr/share/nodejs/mocha/lib/runner.js:559:5)
      at process.processImmediate (node:internal/timers:483:21)
"""#

    /// mocha 10.1 --color
    static let mochaColor = #"""

\#u{1B}[0m\#u{1B}[0m
\#u{1B}[0m  math\#u{1B}[0m
  \#u{1B}[32m  ✔\#u{1B}[0m\#u{1B}[90m adds\#u{1B}[0m
  \#u{1B}[32m  ✔\#u{1B}[0m\#u{1B}[90m subtracts\#u{1B}[0m
  \#u{1B}[32m  ✔\#u{1B}[0m\#u{1B}[90m multiplies\#u{1B}[0m
  \#u{1B}[31m  1) divides\#u{1B}[0m
  \#u{1B}[36m  - later\#u{1B}[0m
  \#u{1B}[36m  - todo\#u{1B}[0m


\#u{1B}[92m \#u{1B}[0m\#u{1B}[32m 3 passing\#u{1B}[0m\#u{1B}[90m (10ms)\#u{1B}[0m
\#u{1B}[36m \#u{1B}[0m\#u{1B}[36m 2 pending\#u{1B}[0m
\#u{1B}[31m  1 failing\#u{1B}[0m

\#u{1B}[0m  1) math
       divides:

      \#u{1B}[31mAssertionError [ERR_ASSERTION]: Expected values to be strictly equal:

2 !== 3
\#u{1B}[0m
      \#u{1B}[32m+ expected\#u{1B}[0m \#u{1B}[31m- actual\#u{1B}[0m

      \#u{1B}[31m-2\#u{1B}[0m
      \#u{1B}[32m+3\#u{1B}[0m
      \#u{1B}[0m\#u{1B}[90m
      at Context.<anonymous> (test.js:6:38)
      at callFn (/usr/share/nodejs/mocha/lib/runnable.js:366:21)
      at Runnable.run (/usr/share/nodejs/mocha/lib/runnable.js:354:5)
      at Runner.runTest (/usr/share/nodejs/mocha/lib/runner.js:666:10)
      at /usr/share/nodejs/mocha/lib/runner.js:789:12
      at next (/usr/share/nodejs/mocha/lib/runner.js:581:14)
      at /usr/share/nodejs/mocha/lib/runner.js:591:7
      at next (/usr/share/nodejs/mocha/lib/runner.js:474:14)
      at Immediate._onImmediate (/usr/share/nodejs/mocha/lib/runner.js:559:5)
      at process.processImmediate (node:internal/timers:483:21)
\#u{1B}[0m
"""#

    /// swift 6.3.1 test: XCTest (5 tests, 1 failed, 1 skipped) then Swift Testing (5 tests, 1 failed with 2 issues, 1 disabled)
    static let swiftTestMixed = #"""
[0/1] Planning build
Building for debugging...
[0/2] Write swift-version-6A52383ED409C6A7.txt
Build complete! (0.26s)
Test Suite 'All tests' started at 2026-11-22 22:24:04.202
Test Suite 'debug.xctest' started at 2026-11-22 22:24:04.240
Test Suite 'MathXCTests' started at 2026-11-22 22:24:04.240
Test Case 'MathXCTests.testAdd' started at 2026-11-22 22:24:04.240
Test Case 'MathXCTests.testAdd' passed (0.002 seconds)
Test Case 'MathXCTests.testAddZero' started at 2026-11-22 22:24:04.243
Test Case 'MathXCTests.testAddZero' passed (0.0 seconds)
Test Case 'MathXCTests.testBroken' started at 2026-11-22 22:24:04.243
/tmp/rfx/sw/Tests/MiniTests/XCTests.swift:6: error: MathXCTests.testBroken : XCTAssertEqual failed: ("4") is not equal to ("5") - 
Test Case 'MathXCTests.testBroken' failed (0.0 seconds)
Test Case 'MathXCTests.testSkipped' started at 2026-11-22 22:24:04.243
/tmp/rfx/sw/Tests/MiniTests/XCTests.swift:7: MathXCTests.testSkipped : Test skipped - not on Linux
Test Case 'MathXCTests.testSkipped' skipped (0.0 seconds)
Test Suite 'MathXCTests' failed at 2026-11-22 22:24:04.243
\#t Executed 4 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.003 (0.003) seconds
Test Suite 'OtherXCTests' started at 2026-11-22 22:24:04.243
Test Case 'OtherXCTests.testOther' started at 2026-11-22 22:24:04.243
Test Case 'OtherXCTests.testOther' passed (0.0 seconds)
Test Suite 'OtherXCTests' passed at 2026-11-22 22:24:04.243
\#t Executed 1 test, with 0 failures (0 unexpected) in 0.0 (0.0) seconds
Test Suite 'debug.xctest' failed at 2026-11-22 22:24:04.243
\#t Executed 5 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.003 (0.003) seconds
Test Suite 'All tests' failed at 2026-11-22 22:24:04.243
\#t Executed 5 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.003 (0.003) seconds
◇ Test run started.
↳ Testing Library Version: 6.3.1 (937120cbc281cf2)
↳ Target Platform: x86_64-unknown-linux-gnu
◇ Suite MathSuite started.
◇ Suite OtherSuite started.
➜ Test disabled() skipped: "later"
◇ Test twoIssues() started.
◇ Test adds() started.
◇ Test other() started.
◇ Test param(_:) started.
✘ Test twoIssues() recorded an issue at SwiftTests.swift:5:30: Expectation failed: (add(1, 1) → 2) == 3
✘ Test twoIssues() recorded an issue at SwiftTests.swift:5:55: Expectation failed: (add(2, 2) → 4) == 5
◇ Test case passing 1 argument x → 1 to param(_:) started.
◇ Test case passing 1 argument x → 2 to param(_:) started.
◇ Test case passing 1 argument x → 3 to param(_:) started.
✘ Test twoIssues() failed after 0.001 seconds with 2 issues.
✔ Test adds() passed after 0.001 seconds.
✔ Test other() passed after 0.001 seconds.
✔ Test param(_:) with 3 test cases passed after 0.001 seconds.
✘ Suite MathSuite failed after 0.002 seconds with 2 issues.
✔ Suite OtherSuite passed after 0.001 seconds.
✘ Test run with 5 tests in 2 suites failed after 0.002 seconds with 2 issues.
"""#

    /// swift 6.3.1 test --filter Other: 1 XCTest, 2 Swift Testing tests
    static let swiftTestPassing = #"""
Building for debugging...
[0/2] Write swift-version-6A52383ED409C6A7.txt
Build complete! (0.16s)
Test Suite 'Selected tests' started at 2026-11-22 22:26:16.468
Test Suite 'OtherXCTests' started at 2026-11-22 22:26:16.474
Test Case 'OtherXCTests.testOther' started at 2026-11-22 22:26:16.474
Test Case 'OtherXCTests.testOther' passed (0.001 seconds)
Test Suite 'OtherXCTests' passed at 2026-11-22 22:26:16.476
\#t Executed 1 test, with 0 failures (0 unexpected) in 0.001 (0.001) seconds
Test Suite 'Selected tests' passed at 2026-11-22 22:26:16.476
\#t Executed 1 test, with 0 failures (0 unexpected) in 0.001 (0.001) seconds
◇ Test run started.
↳ Testing Library Version: 6.3.1 (937120cbc281cf2)
↳ Target Platform: x86_64-unknown-linux-gnu
◇ Suite OtherSuite started.
◇ Test param(_:) started.
◇ Test other() started.
◇ Test case passing 1 argument x → 1 to param(_:) started.
◇ Test case passing 1 argument x → 2 to param(_:) started.
◇ Test case passing 1 argument x → 3 to param(_:) started.
✔ Test param(_:) with 3 test cases passed after 0.001 seconds.
✔ Test other() passed after 0.001 seconds.
✔ Suite OtherSuite passed after 0.001 seconds.
✔ Test run with 2 tests in 1 suite passed after 0.001 seconds.
"""#

    /// swift 6.3.1 test on a terminal: \r progress lines, ANSI colours
    static let swiftTestTTY = #"""
\#u{1B}[2K\#rBuilding for debugging...\#r
\#u{1B}[2K\#r[0/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/4] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/5] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/4] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/4] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/4] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/4] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/3] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/2] Write swift-version-6A52383ED409C6A7.txt\#u{1B}[2K\#r[1/1] Write swift-version-6A52383ED409C6A7.txt\#r
\#u{1B}[2K\#rBuild complete! (0.26s)\#r
Test Suite 'All tests' started at 2026-11-22 22:26:17.513\#r
Test Suite 'debug.xctest' started at 2026-11-22 22:26:17.515\#r
Test Suite 'MathXCTests' started at 2026-11-22 22:26:17.515\#r
Test Case 'MathXCTests.testAdd' started at 2026-11-22 22:26:17.515\#r
Test Case 'MathXCTests.testAdd' passed (0.001 seconds)\#r
Test Case 'MathXCTests.testAddZero' started at 2026-11-22 22:26:17.516\#r
Test Case 'MathXCTests.testAddZero' passed (0.0 seconds)\#r
Test Case 'MathXCTests.testBroken' started at 2026-11-22 22:26:17.516\#r
/tmp/rfx/sw/Tests/MiniTests/XCTests.swift:6: error: MathXCTests.testBroken : XCTAssertEqual failed: ("4") is not equal to ("5") - \#r
Test Case 'MathXCTests.testBroken' failed (0.0 seconds)\#r
Test Case 'MathXCTests.testSkipped' started at 2026-11-22 22:26:17.517\#r
/tmp/rfx/sw/Tests/MiniTests/XCTests.swift:7: MathXCTests.testSkipped : Test skipped - not on Linux\#r
Test Case 'MathXCTests.testSkipped' skipped (0.0 seconds)\#r
Test Suite 'MathXCTests' failed at 2026-11-22 22:26:17.517\#r
\#t Executed 4 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.002 (0.002) seconds\#r
Test Suite 'OtherXCTests' started at 2026-11-22 22:26:17.517\#r
Test Case 'OtherXCTests.testOther' started at 2026-11-22 22:26:17.517\#r
Test Case 'OtherXCTests.testOther' passed (0.0 seconds)\#r
Test Suite 'OtherXCTests' passed at 2026-11-22 22:26:17.517\#r
\#t Executed 1 test, with 0 failures (0 unexpected) in 0.0 (0.0) seconds\#r
Test Suite 'debug.xctest' failed at 2026-11-22 22:26:17.517\#r
\#t Executed 5 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.002 (0.002) seconds\#r
Test Suite 'All tests' failed at 2026-11-22 22:26:17.517\#r
\#t Executed 5 tests, with 1 test skipped and 1 failure (0 unexpected) in 0.002 (0.002) seconds\#r
\#u{1B}[90m◇\#u{1B}[0m Test run started.\#r
\#u{1B}[90m↳ Testing Library Version: 6.3.1 (937120cbc281cf2)\#u{1B}[0m\#r
\#u{1B}[90m↳ Target Platform: x86_64-unknown-linux-gnu\#u{1B}[0m\#r
\#u{1B}[90m◇\#u{1B}[0m Suite MathSuite started.\#r
\#u{1B}[90m◇\#u{1B}[0m Suite OtherSuite started.\#r
\#u{1B}[90m➜\#u{1B}[0m Test disabled() skipped: "later"\#r
\#u{1B}[90m◇\#u{1B}[0m Test adds() started.\#r
\#u{1B}[90m◇\#u{1B}[0m Test twoIssues() started.\#r
\#u{1B}[90m◇\#u{1B}[0m Test param(_:) started.\#r
\#u{1B}[90m◇\#u{1B}[0m Test other() started.\#r
\#u{1B}[91m✘\#u{1B}[0m Test twoIssues() recorded an issue at SwiftTests.swift:5:30: Expectation failed: (add(1, 1) → 2) == 3\#r
\#u{1B}[91m✘\#u{1B}[0m Test twoIssues() recorded an issue at SwiftTests.swift:5:55: Expectation failed: (add(2, 2) → 4) == 5\#r
\#u{1B}[90m◇\#u{1B}[0m Test case passing 1 argument x → 1 to param(_:) started.\#r
\#u{1B}[90m◇\#u{1B}[0m Test case passing 1 argument x → 2 to param(_:) started.\#r
\#u{1B}[90m◇\#u{1B}[0m Test case passing 1 argument x → 3 to param(_:) started.\#r
\#u{1B}[92m✔\#u{1B}[0m Test adds() passed after 0.001 seconds.\#r
\#u{1B}[91m✘\#u{1B}[0m Test twoIssues() failed after 0.001 seconds with 2 issues.\#r
\#u{1B}[92m✔\#u{1B}[0m Test param(_:) with 3 test cases passed after 0.001 seconds.\#r
\#u{1B}[92m✔\#u{1B}[0m Test other() passed after 0.001 seconds.\#r
\#u{1B}[91m✘\#u{1B}[0m Suite MathSuite failed after 0.001 seconds with 2 issues.\#r
\#u{1B}[92m✔\#u{1B}[0m Suite OtherSuite passed after 0.001 seconds.\#r
\#u{1B}[91m✘\#u{1B}[0m Test run with 5 tests in 2 suites failed after 0.003 seconds with 2 issues.\#r
"""#

    /// swift 6.3.1 test --parallel
    static let swiftTestParallel = #"""
Building for debugging...
[0/2] Write swift-version-6A52383ED409C6A7.txt
Build complete! (0.18s)
[1/5] Testing MiniTests.MathXCTests/testAdd
[2/5] Testing MiniTests.MathXCTests/testAddZero
[3/5] Testing MiniTests.MathXCTests/testSkipped
[4/5] Testing MiniTests.MathXCTests/testBroken
[5/5] Testing MiniTests.OtherXCTests/testOther
Test Suite 'Selected tests' started at 2026-11-22 22:26:36.944
Test Suite 'MathXCTests' started at 2026-11-22 22:26:36.947
Test Case 'MathXCTests.testBroken' started at 2026-11-22 22:26:36.947
/tmp/rfx/sw/Tests/MiniTests/XCTests.swift:6: error: MathXCTests.testBroken : XCTAssertEqual failed: ("4") is not equal to ("5") - 
Test Case 'MathXCTests.testBroken' failed (0.001 seconds)
Test Suite 'MathXCTests' failed at 2026-11-22 22:26:36.948
\#t Executed 1 test, with 1 failure (0 unexpected) in 0.001 (0.001) seconds
Test Suite 'Selected tests' failed at 2026-11-22 22:26:36.948
\#t Executed 1 test, with 1 failure (0 unexpected) in 0.001 (0.001) seconds

◇ Test run started.
↳ Testing Library Version: 6.3.1 (937120cbc281cf2)
↳ Target Platform: x86_64-unknown-linux-gnu
◇ Suite MathSuite started.
◇ Suite OtherSuite started.
◇ Test twoIssues() started.
◇ Test adds() started.
➜ Test disabled() skipped: "later"
◇ Test other() started.
◇ Test param(_:) started.
◇ Test case passing 1 argument x → 1 to param(_:) started.
◇ Test case passing 1 argument x → 2 to param(_:) started.
◇ Test case passing 1 argument x → 3 to param(_:) started.
✔ Test adds() passed after 0.001 seconds.
✔ Test param(_:) with 3 test cases passed after 0.001 seconds.
✔ Test other() passed after 0.001 seconds.
✔ Suite OtherSuite passed after 0.001 seconds.
✘ Test twoIssues() recorded an issue at SwiftTests.swift:5:30: Expectation failed: (add(1, 1) → 2) == 3
✘ Test twoIssues() recorded an issue at SwiftTests.swift:5:55: Expectation failed: (add(2, 2) → 4) == 5
✘ Test twoIssues() failed after 0.002 seconds with 2 issues.
✘ Suite MathSuite failed after 0.002 seconds with 2 issues.
✘ Test run with 5 tests in 2 suites failed after 0.002 seconds with 2 issues.
"""#

    /// swift 6.3.1 test --parallel --filter Other
    static let swiftTestParallelPassing = #"""
Building for debugging...
[0/2] Write swift-version-6A52383ED409C6A7.txt
Build complete! (0.24s)
[1/1] Testing MiniTests.OtherXCTests/testOther
◇ Test run started.
↳ Testing Library Version: 6.3.1 (937120cbc281cf2)
↳ Target Platform: x86_64-unknown-linux-gnu
◇ Suite OtherSuite started.
◇ Test param(_:) started.
◇ Test other() started.
◇ Test case passing 1 argument x → 1 to param(_:) started.
◇ Test case passing 1 argument x → 2 to param(_:) started.
◇ Test case passing 1 argument x → 3 to param(_:) started.
✔ Test param(_:) with 3 test cases passed after 0.001 seconds.
✔ Test other() passed after 0.001 seconds.
✔ Suite OtherSuite passed after 0.001 seconds.
✔ Test run with 2 tests in 1 suite passed after 0.001 seconds.
"""#

    /// pytest 9.0.3 --junitxml: 3 passed, 1 failed, 2 skipped
    static let junitPytest = #"""
<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="2" tests="6" time="0.033" timestamp="2026-11-22T22:21:44.153474+00:00" hostname="vm"><testcase classname="test_a" name="test_ok1" time="0.000" /><testcase classname="test_a" name="test_ok2" time="0.000" /><testcase classname="test_a" name="test_ok3" time="0.000" /><testcase classname="test_a" name="test_bad" time="0.001"><failure message="assert (1 + 1) == 3">&gt;   def test_bad(): assert 1 + 1 == 3
                    ^^^^^^^^^^^^^^^^^
E   assert (1 + 1) == 3

test_a.py:5: AssertionError</failure></testcase><testcase classname="test_a" name="test_skip1" time="0.000"><skipped type="pytest.skip" message="not today">/tmp/rfx/py/test_a.py:6: not today</skipped></testcase><testcase classname="test_a" name="test_skip2" time="0.000"><skipped type="pytest.skip" message="never">/tmp/rfx/py/test_a.py:8: never</skipped></testcase></testsuite></testsuites>
"""#

    /// ctest 3.25 --output-junit: tests=6 counts the disabled test
    static let junitCTest = #"""
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="(empty)"
\#ttests="6"
\#tfailures="1"
\#tdisabled="1"
\#tskipped="1"
\#thostname=""
\#ttime="0"
\#ttimestamp="2026-11-22T22:26:27"
\#t>
\#t<testcase name="passes_one" classname="passes_one" time="0.0023276" status="run">
\#t\#t<system-out></system-out>
\#t</testcase>
\#t<testcase name="passes_two" classname="passes_two" time="0.00152109" status="run">
\#t\#t<system-out></system-out>
\#t</testcase>
\#t<testcase name="passes_three" classname="passes_three" time="0.00170127" status="run">
\#t\#t<system-out></system-out>
\#t</testcase>
\#t<testcase name="fails" classname="fails" time="0.00165788" status="fail">
\#t\#t<failure message=""/>
\#t\#t<system-out></system-out>
\#t</testcase>
\#t<testcase name="skipped" classname="skipped" time="0.00138401" status="notrun">
\#t\#t<skipped message="SKIP_RETURN_CODE=77"/>
\#t\#t<system-out></system-out>
\#t</testcase>
\#t<testcase name="off" classname="off" time="0" status="disabled">
\#t\#t<system-out>Disabled</system-out>
\#t</testcase>
</testsuite>
"""#

    /// node 20 --test --test-reporter=junit: <testcase> straight under <testsuites>
    static let junitNode = #"""
<?xml version="1.0" encoding="utf-8"?>
<testsuites>
\#t<testcase name="adds" time="0.002789" classname="test"/>
\#t<testcase name="subtracts" time="0.000187" classname="test"/>
\#t<testcase name="multiplies" time="0.000167" classname="test"/>
\#t<testcase name="divides" time="0.001383" classname="test" failure="Expected values to be strictly equal:2 !== 3">
\#t\#t<failure type="testCodeFailure" message="Expected values to be strictly equal:2 !== 3">
[Error [ERR_TEST_FAILURE]: Expected values to be strictly equal:

2 !== 3
] {
  code: 'ERR_TEST_FAILURE',
  failureType: 'testCodeFailure',
  cause: AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  2 !== 3
  
      at TestContext.&lt;anonymous> (/tmp/rfx/nodet/a.test.js:6:32)
      at Test.runInAsyncScope (node:async_hooks:206:9)
      at Test.run (node:internal/test_runner/test:796:25)
      at Test.processPendingSubtests (node:internal/test_runner/test:526:18)
      at Test.postRun (node:internal/test_runner/test:889:19)
      at Test.run (node:internal/test_runner/test:835:12)
      at async Test.processPendingSubtests (node:internal/test_runner/test:526:7) {
    generatedMessage: true,
    code: 'ERR_ASSERTION',
    actual: 2,
    expected: 3,
    operator: 'strictEqual'
  }
}
\#t\#t</failure>
\#t</testcase>
\#t<testcase name="later" time="0.000318" classname="test">
\#t\#t<skipped type="skipped" message="not yet"/>
\#t</testcase>
\#t<testcase name="eventually" time="0.000168" classname="test">
\#t\#t<skipped type="todo" message="true"/>
\#t</testcase>
\#t<!-- tests 6 -->
\#t<!-- suites 0 -->
\#t<!-- pass 3 -->
\#t<!-- fail 1 -->
\#t<!-- cancelled 0 -->
\#t<!-- skipped 1 -->
\#t<!-- todo 1 -->
\#t<!-- duration_ms 260.085004 -->
</testsuites>
"""#

    /// mocha 10.1 --reporter xunit: the failure is counted under errors=, failures=0
    static let junitMocha = #"""
<testsuite name="Mocha Tests" tests="6" failures="0" errors="1" skipped="2" timestamp="Sun, 22 Nov 2026 22:32:16 GMT" time="0.004">
<testcase classname="math" name="adds" time="0"/>
<testcase classname="math" name="subtracts" time="0"/>
<testcase classname="math" name="multiplies" time="0"/>
<testcase classname="math" name="divides" time="0.001"><failure>Expected values to be strictly equal:

2 !== 3


      + expected - actual

      -2
      +3
      
AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:

2 !== 3

    at Context.&#x3C;anonymous&#x3E; (test.js:6:38)
    at callFn (/usr/share/nodejs/mocha/lib/runnable.js:366:21)
    at Runnable.run (/usr/share/nodejs/mocha/lib/runnable.js:354:5)
    at Runner.runTest (/usr/share/nodejs/mocha/lib/runner.js:666:10)
    at /usr/share/nodejs/mocha/lib/runner.js:789:12
    at next (/usr/share/nodejs/mocha/lib/runner.js:581:14)
    at /usr/share/nodejs/mocha/lib/runner.js:591:7
    at next (/usr/share/nodejs/mocha/lib/runner.js:474:14)
    at Immediate._onImmediate (/usr/share/nodejs/mocha/lib/runner.js:559:5)
    at process.processImmediate (node:internal/timers:483:21)</failure></testcase>
<testcase classname="math" name="later" time="0"><skipped/></testcase>
<testcase classname="math" name="todo" time="0"><skipped/></testcase>
</testsuite>
"""#

    /// swift test --xunit-output (Swift Testing): failures=2 counts issues, tests=4 leaves out the skipped one
    static let junitSwiftTesting = #"""
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="TestResults" errors="0" tests="4" failures="2" skipped="1" time="0.00273593">
    <testcase classname="MiniTests.OtherSuite" name="other()" time="0.001471189" />
    <testcase classname="MiniTests.OtherSuite" name="param(_:)" time="0.001323582" />
    <testcase classname="MiniTests.MathSuite" name="adds()" time="0.001032426" />
    <testcase classname="MiniTests.MathSuite" name="twoIssues()" time="0.002008156" >
      <failure message="Expectation failed: (add(1, 1) &#8594; 2) == 3 (error)" />
      <failure message="Expectation failed: (add(2, 2) &#8594; 4) == 5 (error)" />
    </testcase>
    <testcase classname="MiniTests.MathSuite" name="disabled()" >
      <skipped>later</skipped>
    </testcase>
  </testsuite>
</testsuites>
"""#

    /// swift test --parallel --xunit-output (XCTest)
    static let junitXCTest = #"""
<?xml version="1.0" encoding="UTF-8"?>

<testsuites>
<testsuite name="TestResults" errors="0" tests="5" failures="1" time="0.17264806700000002">
<testcase classname="MiniTests.MathXCTests" name="testAdd" time="0.040436133">
</testcase>
<testcase classname="MiniTests.MathXCTests" name="testAddZero" time="0.043152116">
</testcase>
<testcase classname="MiniTests.MathXCTests" name="testSkipped" time="0.012328107">
</testcase>
<testcase classname="MiniTests.MathXCTests" name="testBroken" time="0.015216522">
<failure message="failure"></failure>
</testcase>
<testcase classname="MiniTests.OtherXCTests" name="testOther" time="0.061515189">
</testcase>
</testsuite>
</testsuites>
"""#

}
