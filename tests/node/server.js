// The article's Node.js WebSocket server, on the `ws` package.
//
//   node server.js [PORT]     (or PORT=... node server.js; 0 picks a free port)
//
// On each message it logs the message and answers "Hello Client" to
// "Hello Server", and "服务器收到消息: <message>" ("server received message")
// to anything else -- like wslab's built-in "echo" handler. It prints
// "listening on port N" once it is ready, for whoever started it.
const WebSocket = require('ws');

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const wss = new WebSocket.WebSocketServer({ port, host: '127.0.0.1' });

wss.on('listening', () => {
  console.log(`listening on port ${wss.address().port}`);
});

wss.on('connection', (ws) => {
  console.log('client connected');

  ws.on('message', (data, isBinary) => {
    const message = isBinary ? data : data.toString();
    console.log(`received: ${message}`);
    if (message === 'Hello Server') {
      ws.send('Hello Client');
    } else {
      ws.send(`服务器收到消息: ${message}`);
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
