// node_env.js (emcc --pre-js for the node test builds): hand the test's
// environment (CASUS_VECTORS, CASUS_TEST_TMP, ...) to the C getenv(), which
// in emscripten otherwise sees only a fixed default environment. ENV exists
// only in programs that call getenv().
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function () {
  if (typeof ENV === 'undefined') return;
  for (var k in process.env) if (k.indexOf('CASUS_') === 0) ENV[k] = process.env[k];
});
