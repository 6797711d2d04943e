"""Generate "variant" PAE fixtures (other widths, heads, K, token counts, rounds) in the golden format.

Used by test/models_variants.test.ts to check that the kit's parity runners read every size from the
data. The modules below restate PIR's `models/pir.py` (MCAN-style MHAtt / MHSA / CroSA, build_mlp,
get_vision_fusion_embeds, get_text_fusion_embeds) and PriorCLIP's soft belief in PyTorch, following
method.md §2 and golden README §1-§4; they are NOT the reference code itself (that is what
/work/shared/golden was produced from).

usage: /usr/bin/python3 test/models_pae_variants.py <out_dir>
       /usr/bin/python3 test/models_pae_variants.py --check-golden <golden_dir>   (self-check on variant a)
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class MHAtt(nn.Module):
    def __init__(self, d, h, p):
        super().__init__()
        self.h, self.d = h, d
        self.linear_v = nn.Linear(d, d)
        self.linear_k = nn.Linear(d, d)
        self.linear_q = nn.Linear(d, d)
        self.linear_merge = nn.Linear(d, d)
        self.dropout = nn.Dropout(p)

    def forward(self, v, k, q):
        b = q.size(0)
        dh = self.d // self.h
        v = self.linear_v(v).view(b, -1, self.h, dh).transpose(1, 2)
        k = self.linear_k(k).view(b, -1, self.h, dh).transpose(1, 2)
        q = self.linear_q(q).view(b, -1, self.h, dh).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(dh)
        att = self.dropout(F.softmax(scores, dim=-1))
        out = torch.matmul(att, v).transpose(1, 2).contiguous().view(b, -1, self.d)
        return self.linear_merge(out)


def mlp(d):
    return nn.Sequential(nn.Linear(d, 2 * d), nn.LayerNorm(2 * d), nn.GELU(), nn.Linear(2 * d, d))


class MHSA(nn.Module):
    def __init__(self, d, h, p):
        super().__init__()
        self.mhatt = MHAtt(d, h, p)
        self.ffn = mlp(d)
        self.dropout1 = nn.Dropout(p)
        self.norm1 = nn.LayerNorm(d)
        self.dropout2 = nn.Dropout(p)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x, rec=None):
        a = self.mhatt(x, x, x)
        x = self.norm1(x + self.dropout1(a))
        if rec is not None:
            rec['mhatt'], rec['after_norm1'] = a, x
        return self.norm2(x + self.dropout2(self.ffn(x)))


class CroSA(nn.Module):
    def __init__(self, d, h, p):
        super().__init__()
        self.mhatt_cross = MHAtt(d, h, p)
        self.ffn = mlp(d)
        self.dropout1 = nn.Dropout(p)
        self.norm1 = nn.LayerNorm(d)
        self.dropout2 = nn.Dropout(p)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x, y, rec=None):
        a = self.mhatt_cross(y, y, x)
        y = self.norm1(y + self.dropout1(a))
        if rec is not None:
            rec['mhatt'], rec['after_norm1'] = a, y
        return self.norm2(y + self.dropout2(self.ffn(y)))


def perturb(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.named_parameters():
            if name.endswith('bias'):
                t += 0.05 * torch.randn(t.shape, generator=g)
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))


def write(out_dir, name, tensors, meta):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k]
        if a.dtype == np.int64:
            dt = 'I64'
        else:
            a = a.astype(np.float32)
            dt = 'F32'
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes()
        header[k] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header['__metadata__'] = {'case': name, 'variant': 'kit-variant'}
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(f'{out_dir}/{name}.safetensors', 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
    with open(f'{out_dir}/{name}.json', 'w') as f:
        json.dump({'case': name, 'variant': 'kit-variant', **meta}, f)


def params(module, prefix=''):
    return {f'param/{prefix}{k}': v.detach().numpy() for k, v in module.state_dict().items()}


def np_(t):
    return t.detach().numpy()


def pir_blocks(out):
    torch.manual_seed(1)
    B, L, D, H = 3, 7, 48, 6
    mods = nn.ModuleDict({'mhsa': MHSA(D, H, 0.2), 'crosa': CroSA(D, H, 0.2)})
    perturb(mods, 2)
    mods.eval()
    x, y = torch.randn(B, L, D), torch.randn(B, L, D)
    ra, rb = {}, {}
    with torch.no_grad():
        a = mods['mhsa'](x, ra)
        b = mods['crosa'](x, y, rb)
    t = params(mods)
    t.update({'input/x': np_(x), 'input/y': np_(y), 'output/mhsa': np_(a), 'output/crosa': np_(b),
              'output/mhsa_mhatt': np_(ra['mhatt']), 'output/mhsa_after_norm1': np_(ra['after_norm1']),
              'output/crosa_mhatt': np_(rb['mhatt']), 'output/crosa_after_norm1': np_(rb['after_norm1'])})
    write(out, 'pir_blocks', t, {'dims': {'B': B, 'L': L, 'D': D, 'heads': H}, 'tolerance': {'rtol': 1e-4, 'atol': 1e-5}})


def min_gap(b):
    s = torch.sort(b, dim=1, descending=True).values
    return float(((s[:, :-1] - s[:, 1:]) / s[:, :-1]).min())


class Pae(nn.Module):
    def __init__(self, kind, D, H, n):
        super().__init__()
        p = 0.2
        if kind == 'img':
            self.mapping_img = nn.ModuleList([nn.Linear(D, D) for _ in range(n)])
            self.img_sa = nn.ModuleList([MHSA(D, H, p) for _ in range(n)])
            self.img_ca = nn.ModuleList([CroSA(D, H, p) for _ in range(n)])
            self.head_img = nn.Linear(D, D)
        else:
            self.mapping_txt = nn.ModuleList([nn.Linear(D, D) for _ in range(n)])
            self.txt_sa = nn.ModuleList([MHSA(D, H, p) for _ in range(n)])
            self.txt_ca = nn.ModuleList([CroSA(D, H, p) for _ in range(n)])
            self.head_txt = nn.Linear(D, D)


def spatial(out):
    torch.manual_seed(3)
    B, N, K, D, H, n_v = 3, 13, 5, 24, 3, 3
    m = Pae('img', D, H, n_v)
    perturb(m, 4)
    m.eval()
    while True:
        V = torch.randn(B, N, D)
        c = torch.randn(B, 1, D) * 1.5 / math.sqrt(D)
        belief = F.softmax(torch.matmul(V, c.transpose(-2, -1)).squeeze(-1), dim=-1)
        if min_gap(belief) > 2e-3:
            break
    t = {'input/V': np_(V), 'input/c': np_(c), 'output/belief': np_(belief)}
    with torch.no_grad():
        _, idx = torch.sort(belief, dim=1, descending=True)
        S = torch.gather(V, 1, idx[:, :K, None].expand(B, K, D))
        t.update({'output/sorted_ind': idx.numpy().astype(np.int64), 'output/kept_idx': idx[:, :K].numpy().astype(np.int64),
                  'output/S_filtered': np_(S)})
        C = c.expand(B, K, D)
        for i in range(n_v):
            A = m.img_sa[i](S)
            q = m.mapping_img[i](C)
            S = m.img_ca[i](q, A)
            t.update({f'output/iter{i}/sa_out': np_(A), f'output/iter{i}/query': np_(q), f'output/iter{i}/ca_out': np_(S)})
        t['output/S_final'] = np_(S)
        t['output/v_emb'] = np_(F.normalize(V[:, 0] + m.head_img(S[:, 0]), dim=-1))
    t.update(params(m))
    write(out, 'spatial_pae', t, {'dims': {'B': B, 'N': N, 'K': K, 'D': D, 'heads': H, 'n_v': n_v},
                                  'tolerance': {'rtol': 1e-4, 'atol': 1e-5}})


def temporal(out):
    torch.manual_seed(5)
    B, L, D, H, n_t = 3, 9, 40, 5, 2
    m = Pae('txt', D, H, n_t)
    perturb(m, 6)
    m.eval()
    T = torch.randn(B, L, D)
    t = {'input/T': np_(T)}
    with torch.no_grad():
        X = T
        for i in range(n_t):
            A = m.txt_sa[i](X)
            q = m.mapping_txt[i](X)
            X = m.txt_ca[i](q, A)
            t.update({f'output/iter{i}/sa_out': np_(A), f'output/iter{i}/query': np_(q), f'output/iter{i}/ca_out': np_(X)})
        t['output/X_final'] = np_(X)
        t['output/t_emb'] = np_(F.normalize(T[:, 0] + m.head_txt(X[:, 0]), dim=-1))
    t.update(params(m))
    write(out, 'temporal_pae', t, {'dims': {'B': B, 'L': L, 'D': D, 'heads': H, 'n_t': n_t},
                                   'tolerance': {'rtol': 1e-4, 'atol': 1e-5}})


def soft(out):
    torch.manual_seed(7)
    B, T, W = 3, 10, 20
    while True:
        x = torch.randn(B, T, W)
        y = torch.randn(B, 1, W) * 1.5 / math.sqrt(W)
        b = F.softmax(torch.matmul(x, y.transpose(-2, -1)).squeeze(-1), dim=-1)
        if min_gap(b) > 2e-3:
            break
    sb, si = torch.sort(b, dim=1, descending=True)
    w = 1.0 / torch.sqrt(si + 1)
    head = F.normalize(x * b.unsqueeze(-1) + x * w.unsqueeze(-1))
    old = F.normalize(x * b.unsqueeze(-1) + x * b.unsqueeze(-1))
    t = {'input/x': np_(x), 'input/y': np_(y), 'output/belief_matrix': np_(b), 'output/sorted_ind': si.numpy().astype(np.int64),
         'output/sorted_belief': np_(sb), 'output/index_weights': np_(w), 'output/head/tokens': np_(head),
         'output/head/seq': np_(torch.cat([y, head], dim=1)), 'output/c20bbe30/tokens': np_(old),
         'output/c20bbe30/seq': np_(torch.cat([y, old], dim=1))}
    write(out, 'soft_belief', t, {'dims': {'B': B, 'T': T, 'W': W}, 'tolerance': {'rtol': 1e-4, 'atol': 1e-6}})


def read(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        dt = {'F32': '<f4', 'I64': '<i8', 'I32': '<i4'}[v['dtype']]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v['shape'])
    return out


def load(module, t, prefix=''):
    sd = {k[len('param/' + prefix):]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith('param/' + prefix)}
    module.load_state_dict(sd, strict=True)
    module.eval()


def close(name, got, exp, rtol=1e-4, atol=1e-5):
    got = got.detach().numpy() if torch.is_tensor(got) else got
    if not np.all(np.abs(got - exp) <= atol + rtol * np.abs(exp)):
        raise SystemExit(f'generator disagrees with the golden output {name}: max abs {np.abs(got - exp).max()}')


def check_golden(gdir):
    """Run this file's modules on the shared golden variant a: they must reproduce it."""
    t = read(f'{gdir}/pir_blocks.safetensors')
    H = json.load(open(f'{gdir}/pir_blocks.json'))['dims']['heads']
    D = t['input/x'].shape[2]
    mods = nn.ModuleDict({'mhsa': MHSA(D, H, 0.2), 'crosa': CroSA(D, H, 0.2)})
    load(mods, t)
    x, y = torch.from_numpy(t['input/x'].copy()), torch.from_numpy(t['input/y'].copy())
    with torch.no_grad():
        close('pir_blocks/mhsa', mods['mhsa'](x), t['output/mhsa'])
        close('pir_blocks/crosa', mods['crosa'](x, y), t['output/crosa'])
    t = read(f'{gdir}/spatial_pae.safetensors')
    H = json.load(open(f'{gdir}/spatial_pae.json'))['dims']['heads']
    B, N, D = t['input/V'].shape
    K = t['output/kept_idx'].shape[1]
    n_v = 1 + max(int(k.split('.')[1]) for k in t if k.startswith('param/img_sa.'))
    m = Pae('img', D, H, n_v)
    load(m, t)
    V, c = torch.from_numpy(t['input/V'].copy()), torch.from_numpy(t['input/c'].copy())
    with torch.no_grad():
        belief = F.softmax(torch.matmul(V, c.transpose(-2, -1)).squeeze(-1), dim=-1)
        _, idx = torch.sort(belief, dim=1, descending=True)
        if not np.array_equal(idx.numpy(), t['output/sorted_ind']):
            raise SystemExit('generator disagrees with the golden sorted_ind')
        S = torch.gather(V, 1, idx[:, :K, None].expand(B, K, D))
        C = c.expand(B, K, D)
        for i in range(n_v):
            S = m.img_ca[i](m.mapping_img[i](C), m.img_sa[i](S))
        close('spatial_pae/v_emb', F.normalize(V[:, 0] + m.head_img(S[:, 0]), dim=-1), t['output/v_emb'])
    t = read(f'{gdir}/temporal_pae.safetensors')
    H = json.load(open(f'{gdir}/temporal_pae.json'))['dims']['heads']
    D = t['input/T'].shape[2]
    n_t = 1 + max(int(k.split('.')[1]) for k in t if k.startswith('param/txt_sa.'))
    m = Pae('txt', D, H, n_t)
    load(m, t)
    T = torch.from_numpy(t['input/T'].copy())
    with torch.no_grad():
        X = T
        for i in range(n_t):
            X = m.txt_ca[i](m.mapping_txt[i](X), m.txt_sa[i](X))
        close('temporal_pae/t_emb', F.normalize(T[:, 0] + m.head_txt(X[:, 0]), dim=-1), t['output/t_emb'])
    t = read(f'{gdir}/soft_belief.safetensors')
    x, y = torch.from_numpy(t['input/x'].copy()), torch.from_numpy(t['input/y'].copy())
    b = F.softmax(torch.matmul(x, y.transpose(-2, -1)).squeeze(-1), dim=-1)
    _, si = torch.sort(b, dim=1, descending=True)
    w = 1.0 / torch.sqrt(si + 1)
    close('soft_belief/head/tokens', F.normalize(x * b.unsqueeze(-1) + x * w.unsqueeze(-1)), t['output/head/tokens'], atol=1e-6)
    close('soft_belief/c20bbe30/tokens', F.normalize(2 * x * b.unsqueeze(-1)), t['output/c20bbe30/tokens'], atol=1e-6)


if __name__ == '__main__':
    torch.set_num_threads(1)
    if sys.argv[1] == '--check-golden':
        check_golden(sys.argv[2])
        print('golden ok')
        sys.exit(0)
    out_dir = sys.argv[1]
    pir_blocks(out_dir)
    spatial(out_dir)
    temporal(out_dir)
    soft(out_dir)
    print('ok')
