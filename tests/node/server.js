// The article's first Node.js WebSocket server, on the `ws` package.
//
//   node server.js [PORT]     (or PORT=... node server.js; 0 picks a free port)
//   node server.js --chat [PORT]
//
// As in the article, it logs each message and answers every one with
// "Hello Client" -- like wslab's built-in "hello" handler. With --chat it is
// the article's chat server instead: it answers the sender only with
// '服务器收到消息: ' + message ("server received message"), like wslab's
// "article-chat"; neither broadcasts. It prints "listening on port N" once it
// is ready, for whoever started it.
const WebSocket = require('ws');

const args = process.argv.slice(2);
const chat = args[0] === '--chat';
if (chat) args.shift();
const port = Number(args[0] ?? process.env.PORT ?? 8080);
const wss = new WebSocket.WebSocketServer({ port, host: '127.0.0.1' });

wss.on('listening', () => {
  console.log(`listening on port ${wss.address().port}`);
});

wss.on('connection', (ws) => {
  console.log('client connected');

  ws.on('message', (data, isBinary) => {
    const message = isBinary ? data : data.toString();
    console.log(`received: ${message}`);
    if (chat) {
      ws.send('服务器收到消息: ' + message);  // the article's chat server (a Buffer becomes text)
    } else {
      ws.send('Hello Client');               // the article's first server
    }
  });

  ws.on('close', (code, reason) => {
    console.log(`client disconnected: ${code} ${reason}`);
  });
});

// Ctrl-C / SIGTERM: close the clients (1001 going away) and stop.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const client of wss.clients) client.close(1001, 'server stopping');
    wss.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
