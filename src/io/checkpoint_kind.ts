/**
 * What kind of file a checkpoint is, from its content (never its extension): a safetensors file, a
 * torch ≥ 1.6 zip checkpoint (`torch.save`), a TorchScript archive (`torch.jit.save`, also a zip), a
 * legacy pre-1.6 `torch.save` pickle stream, a very old tar-format `torch.save`, or none of these.
 * Only the first two can be read; each other kind is refused with its own message and what to do.
 */
import { isZip, ZipArchive } from './zip';

/** Kinds the detector tells apart. */
export type CheckpointKind = 'safetensors' | 'torch-zip' | 'torchscript' | 'legacy-pickle' | 'pickle' | 'legacy-tar' | 'empty' | 'unknown';

/** Pickle PROTO opcode (protocol 2+ streams start with it). */
const PICKLE_PROTO = 0x80;
/** Highest pickle protocol. */
const PICKLE_MAX_PROTOCOL = 5;
/** The magic number legacy `torch.save` pickles first (`torch/serialization.py`, MAGIC_NUMBER). */
const TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Pickle LONG1 opcode, which carries the legacy magic number. */
const PICKLE_LONG1 = 0x8a;
/** Offset and text of the POSIX tar magic. */
const TAR_MAGIC_OFFSET = 257;
const TAR_MAGIC = 'ustar';
/** Length of the safetensors header-size prefix. */
const SAFETENSORS_PREFIX = 8;

/** Detects the kind of checkpoint bytes (see the module comment). */
export function detectCheckpointKind(bytes: Uint8Array): CheckpointKind {
  if (bytes.length === 0) return 'empty';
  if (isZip(bytes)) {
    let names: string[];
    try {
      names = new ZipArchive(bytes).names();
    } catch {
      return 'torch-zip'; // let the zip reader report what is wrong with it
    }
    const ts = names.some((n) => /^[^/]+\/(code\/|constants\.pkl$)/.test(n));
    return ts ? 'torchscript' : 'torch-zip';
  }
  if (bytes[0] === PICKLE_PROTO && bytes.length >= 2 && bytes[1] >= 2 && bytes[1] <= PICKLE_MAX_PROTOCOL) {
    if (bytes.length >= 13 && bytes[2] === PICKLE_LONG1 && bytes[3] === 10) {
      let v = 0n;
      for (let k = 9; k >= 0; k--) v = (v << 8n) | BigInt(bytes[4 + k]);
      if (v === TORCH_LEGACY_MAGIC) return 'legacy-pickle';
    }
    return 'pickle';
  }
  if (bytes.length >= TAR_MAGIC_OFFSET + TAR_MAGIC.length &&
    Buffer.from(bytes.subarray(TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + TAR_MAGIC.length)).toString('latin1') === TAR_MAGIC) return 'legacy-tar';
  if (bytes.length > SAFETENSORS_PREFIX) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
    if (n > 0n && n <= BigInt(bytes.length - SAFETENSORS_PREFIX) && bytes[SAFETENSORS_PREFIX] === 0x7b) return 'safetensors';
    if (n > 0n && bytes[SAFETENSORS_PREFIX] === 0x7b) return 'safetensors'; // header cut off: the reader says so
  }
  return 'unknown';
}

/** The error for a kind the kit cannot read (null for safetensors and torch zip files). */
export function unreadableCheckpointMessage(kind: CheckpointKind, bytes: Uint8Array, source: string): string | null {
  const resave = "re-save it in PyTorch ≥ 1.6 with torch.save(model.state_dict(), 'file.pt') or safetensors.torch.save_file";
  switch (kind) {
    case 'safetensors':
    case 'torch-zip':
      return null;
    case 'torchscript':
      return `${source}: a TorchScript archive (torch.jit.save), not a state_dict; load it with torch.jit.load and ${resave}`;
    case 'legacy-pickle':
      return `${source}: a legacy PyTorch checkpoint (torch.save before 1.6, pickle stream), which the kit does not read (it never runs pickle code); ${resave}`;
    case 'pickle':
      return `${source}: a plain Python pickle (protocol ${bytes[1]}), not a PyTorch checkpoint the kit reads; ${resave}`;
    case 'legacy-tar':
      return `${source}: a tar-format checkpoint (torch.save before 0.4), which the kit does not read; ${resave}`;
    case 'empty':
      return `${source}: empty file (0 bytes), not a checkpoint`;
    case 'unknown': {
      const head = Array.from(bytes.subarray(0, 8)).map((b) => b.toString(16).padStart(2, '0')).join(' ');
      return `${source}: not a checkpoint the kit reads (${bytes.length} bytes, starts with ${head}): expected safetensors or a torch ≥ 1.6 zip (.pt/.pth)`;
    }
  }
}
