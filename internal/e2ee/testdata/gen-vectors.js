// gen-vectors.js makes the interop test vectors of package e2ee with real
// client code from npm: matrix-encrypt-attachment (what Element Web uses for
// attachments) and @matrix-org/olm (libolm compiled to wasm, PkEncryption).
//
//   npm install matrix-encrypt-attachment@1.0.3 @matrix-org/olm@3.2.15
//   node gen-vectors.js > vectors.json
//
// With "verify-olm" it instead reads an encrypted_body made by our Go code on
// stdin ({"private_key": b64, "body": {ciphertext, mac, ephemeral}}) and
// prints what libolm decrypts it to:
//
//   node gen-vectors.js verify-olm < go-body.json
//
// With "verify-attachment" it reads {"file": EncryptedFile, "ciphertext_base64":
// ...} made by our Go code and prints the plaintext as matrix-encrypt-attachment
// decrypts it, in base64:
//
//   node gen-vectors.js verify-attachment < go-attachment.json
'use strict';

const mea = require('matrix-encrypt-attachment');
const Olm = require('@matrix-org/olm');

function b64(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '');
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function verifyOlm() {
  await Olm.init();
  const input = JSON.parse(await readStdin());
  const dec = new Olm.PkDecryption();
  dec.init_with_private_key(Buffer.from(input.private_key, 'base64'));
  const b = input.body;
  process.stdout.write(dec.decrypt(b.ephemeral, b.mac, b.ciphertext));
  dec.free();
}

async function verifyAttachment() {
  const input = JSON.parse(await readStdin());
  const plaintext = await mea.decryptAttachment(Buffer.from(input.ciphertext_base64, 'base64'), input.file);
  process.stdout.write(b64(Buffer.from(plaintext)) + '\n');
}

async function generate() {
  await Olm.init();

  // 1000 deterministic bytes: several AES blocks, not a multiple of 16.
  const plaintext = Buffer.alloc(1000);
  for (let i = 0; i < plaintext.length; i++) plaintext[i] = (i * 7 + 3) & 0xff;

  const enc = await mea.encryptAttachment(plaintext);
  const file = Object.assign({url: 'mxc://example.org/matrixEncryptAttachmentVector'}, enc.info);

  // The RFC 7748 test private key (also libolm's test_pk.cpp "alice").
  const priv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  const dec = new Olm.PkDecryption();
  const pub = dec.init_with_private_key(priv);
  const pk = new Olm.PkEncryption();
  pk.set_recipient_key(pub);
  const filePlaintext = JSON.stringify({file: file});
  const fileBody = pk.encrypt(filePlaintext);
  const textBody = pk.encrypt('This is a test');
  // libolm must read back what it wrote, or the vector is worthless.
  if (dec.decrypt(fileBody.ephemeral, fileBody.mac, fileBody.ciphertext) !== filePlaintext) {
    throw new Error('olm round trip failed');
  }
  pk.free();
  dec.free();

  const out = {
    generator: 'internal/e2ee/testdata/gen-vectors.js with matrix-encrypt-attachment@1.0.3, @matrix-org/olm@3.2.15, node ' + process.version,
    attachment: {
      plaintext_base64: b64(plaintext),
      ciphertext_base64: b64(Buffer.from(enc.data)),
      file: file,
    },
    pk: {
      private_key_base64: b64(priv),
      public_key_base64: pub,
      file_plaintext: filePlaintext,
      file_body: fileBody,
      text_plaintext: 'This is a test',
      text_body: textBody,
    },
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

const modes = {'verify-olm': verifyOlm, 'verify-attachment': verifyAttachment};
(modes[process.argv[2]] || generate)().catch((e) => {
  console.error(e);
  process.exit(1);
});
