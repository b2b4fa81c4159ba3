/*
 * Loaded by the test page after mixpanel-browser. The Python harness calls
 * idmergeStart() once, then idmergeRun(script) for each step of a scenario.
 *
 * It records every XMLHttpRequest the page makes (the SDK sends everything with XHR)
 * and every event the SDK's track() produced, including the $identify and
 * $create_alias events that identify() and alias() track internally. A step is over
 * when every such event has reached the server in a request answered with 200, no
 * request is in flight and nothing has happened for a quiet period: only then is
 * what the server holds worth querying.
 */
(function () {
  'use strict';

  var requests = [];
  var tracked = [];
  var inFlight = 0;
  var lastActivity = Date.now();
  var sdk = null;
  var options = null;
  var reported = {requests: 0, tracked: 0};

  function touch() {
    lastActivity = Date.now();
  }

  var xhrOpen = XMLHttpRequest.prototype.open;
  var xhrSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this._idmergeRecord = {
      method: String(method), url: String(url), body: null, status: null, response: null
    };
    return xhrOpen.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function (body) {
    var record = this._idmergeRecord;
    var xhr = this;
    if (record) {
      record.body = body === undefined || body === null ? null : String(body);
      requests.push(record);
      inFlight += 1;
      touch();
      xhr.addEventListener('loadend', function () {
        record.status = xhr.status;
        record.response = xhr.responseText;
        inFlight -= 1;
        touch();
      });
    }
    return xhrSend.apply(this, arguments);
  };

  /* The events in a request: `data` holds JSON, or base64 of UTF-8 JSON. */
  function eventsIn(record) {
    var query = record.url.indexOf('?') < 0 ? '' : record.url.slice(record.url.indexOf('?') + 1);
    var match = /(?:^|&)data=([^&]*)/.exec(record.body === null ? query : record.body);
    if (!match) {
      return [];
    }
    var text = decodeURIComponent(match[1]);
    if (text.charAt(0) !== '{' && text.charAt(0) !== '[') {
      var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
      text = new TextDecoder().decode(bytes);
    }
    var data = JSON.parse(text);
    return Array.isArray(data) ? data : [data];
  }

  function describe(record) {
    var where = record.url.split('?')[0];
    if (record.status === 0) {
      return record.method + ' ' + where + ' failed without an answer (refused by CORS, or ' +
        'the server is down: see the console lines)';
    }
    return record.method + ' ' + where + ' answered ' + record.status + ': ' +
      String(record.response).slice(0, 300);
  }

  function undelivered() {
    var delivered = {};
    requests.forEach(function (record) {
      if (record.status === 200) {
        eventsIn(record).forEach(function (item) {
          if (item && item.properties) {
            delivered[item.properties.$insert_id] = true;
          }
        });
      }
    });
    return tracked.filter(function (item) { return !delivered[item.properties.$insert_id]; });
  }

  function settle() {
    var deadline = Date.now() + options.timeoutMs;
    return new Promise(function (resolve, reject) {
      (function poll() {
        var failed = requests.filter(function (r) { return r.status !== null && r.status !== 200; });
        if (failed.length > 0) {
          reject(new Error('the SDK\'s request ' + describe(failed[0])));
          return;
        }
        var missing = undelivered();
        if (inFlight === 0 && missing.length === 0 && Date.now() - lastActivity >= options.quietMs) {
          resolve();
          return;
        }
        if (Date.now() > deadline) {
          reject(new Error('the SDK had not delivered everything after ' + options.timeoutMs +
            ' ms: ' + inFlight + ' request(s) in flight; events not yet answered with 200: [' +
            missing.map(function (item) { return item.event; }).join(', ') + ']'));
          return;
        }
        setTimeout(poll, 20);
      })();
    });
  }

  /*
   * Wait until the SDK's persisted event queue holds `count` items: enqueueing is
   * asynchronous (it takes a localStorage lock). The key is the one mixpanel-browser
   * 2.83 uses (`get_batcher_configs`); another version may need another.
   */
  function untilQueued(count) {
    var key = '__mpq_' + options.token + '_ev';
    var deadline = Date.now() + options.timeoutMs;
    return new Promise(function (resolve, reject) {
      (function poll() {
        var queued = JSON.parse(window.localStorage.getItem(key) || '[]').length;
        if (queued >= count) {
          resolve(queued);
        } else if (Date.now() > deadline) {
          reject(new Error('the SDK\'s queue ' + key + ' holds ' + queued + ' item(s), not ' + count));
        } else {
          setTimeout(poll, 20);
        }
      })();
    });
  }

  /* Initialise the SDK the way an application does. */
  window.idmergeStart = function (startOptions) {
    options = startOptions;
    var config = Object.assign({}, startOptions.config, {api_host: startOptions.apiHost});
    sdk = window.mixpanel.init(startOptions.token, config, 'idmerge');
    var track = sdk.track;
    sdk.track = function () {
      var sent = track.apply(this, arguments);
      if (sent && sent.properties) {
        tracked.push(JSON.parse(JSON.stringify(sent)));
        touch();
      }
      return sent;
    };
    return {distinct_id: sdk.get_distinct_id(), device_id: sdk.get_property('$device_id')};
  };

  /*
   * Run one step: `script` is the body of an async function of `mp` (the SDK instance)
   * and `h` (helpers: settle(), untilQueued(n), sleep(ms)). Answers its value and what
   * the SDK sent during the step.
   */
  window.idmergeRun = function (script) {
    var helpers = {
      settle: settle,
      untilQueued: untilQueued,
      sleep: function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
    };
    // eslint-disable-next-line no-new-func
    var step = new Function('mp', 'h', '"use strict"; return (async function () {\n' +
      script + '\n})();');
    return step(sdk, helpers).then(function (value) {
      return settle().then(function () {
        var answer = {
          value: value === undefined ? null : value,
          requests: requests.slice(reported.requests),
          tracked: tracked.slice(reported.tracked),
          distinct_id: sdk.get_distinct_id(),
          device_id: sdk.get_property('$device_id')
        };
        reported = {requests: requests.length, tracked: tracked.length};
        return answer;
      });
    });
  };
})();
