"""Each prepare.py on small local data, and the batch sampler's guarantees."""
import io
import tarfile

import numpy as np
import pytest
import tiktoken
import torch

from data import (IMAGE_MEAN, IMAGE_STD, DataError, ImageBatches, TextBatches, load_tokens,
                  read_meta, write_meta, write_tokens)


def test_stdlib_prepare(tmp_path):
    from data.stdlib.prepare import prepare
    src = tmp_path / 'lib'
    (src / 'pkg' / 'tests').mkdir(parents=True)
    (src / 'b.py').write_text('print("b")\n' * 100)
    (src / 'a.py').write_text('x = 1\n' * 100)
    (src / 'pkg' / 'c.py').write_text('y = 2\n' * 100)
    (src / 'pkg' / 'tests' / 'test_c.py').write_text('left out\n' * 100)
    (src / 'notes.txt').write_text('not python\n' * 100)
    prepare(tmp_path, root=src)
    expected = ('x = 1\n' * 100 + 'print("b")\n' * 100 + 'y = 2\n' * 100).encode()
    train, val = (np.fromfile(tmp_path / f'{s}.bin', dtype=np.uint16) for s in ('train', 'val'))
    # sorted order, tests out
    assert bytes(np.concatenate([train, val]).astype(np.uint8)) == expected
    assert len(val) == len(expected) // 10 and read_meta(tmp_path)['vocab_size'] == 256


def test_shakespeare_char_prepare(tmp_path):
    from data.shakespeare_char.prepare import prepare
    text = 'First Citizen:\nBefore we proceed any further, hear me speak.\n' * 20
    (tmp_path / 'input.txt').write_text(text)
    prepare(tmp_path, url='http://unreachable.invalid/')  # input.txt present: no download
    meta = read_meta(tmp_path)
    ids = np.concatenate([np.fromfile(tmp_path / f'{s}.bin', dtype=np.uint16)
                          for s in ('train', 'val')])
    assert ''.join(meta['itos'][i] for i in ids) == text and meta['vocab_size'] == len(set(text))


def byte_level_encoding():
    """A real tiktoken Encoding that needs no download: bytes as tokens, plus <|endoftext|>."""
    return tiktoken.Encoding('bytes', pat_str=r"\S+|\s+",
                             mergeable_ranks={bytes([i]): i for i in range(256)},
                             special_tokens={'<|endoftext|>': 256})


def test_tinystories_prepare(tmp_path):
    from data.tinystories.prepare import FILES, prepare
    stories = {'train': ['Once upon a time.', 'The cat sat.\nIt was happy.', 'The end.'],
               'val': ['Hi.']}
    for split, name in FILES.items():
        (tmp_path / name).write_text('\n<|endoftext|>\n'.join(stories[split]) + '\n')
    enc = byte_level_encoding()
    prepare(tmp_path, encoding=enc)
    for split in FILES:
        ids = np.fromfile(tmp_path / f'{split}.bin', dtype=np.uint16).tolist()
        expected = [t for s in stories[split] for t in enc.encode_ordinary(s) + [256]]
        assert ids == expected
    assert read_meta(tmp_path)['vocab_size'] == 257


def test_synthetic_images_prepare(tmp_path):
    from data.synthetic_images.prepare import prepare
    prepare(tmp_path, n_train=300, n_val=50)
    with np.load(tmp_path / 'train.npz') as f:
        x, y = f['x'], f['y']
    assert x.shape == (300, 3, 16, 16) and x.dtype == np.uint8 and set(y) == set(range(20))
    prepare(tmp_path / '..' / tmp_path.name, n_train=300, n_val=50)  # deterministic
    with np.load(tmp_path / 'train.npz') as f:
        assert np.array_equal(f['x'], x)


def test_image_evaluation_reads_the_split_in_order(tiny_images):
    batches = ImageBatches(tiny_images, batch_rows=8, seed=3)
    with np.load(tiny_images / 'val.npz') as f:
        x, y = f['x'], f['y']
    read = [batches.eval_batch('val', i, 40) for i in range(len(y) // 40)]  # the whole split once
    pixels = torch.cat([r[0] for r in read]) * IMAGE_STD + IMAGE_MEAN
    assert torch.equal(pixels.round().to(torch.uint8), torch.from_numpy(x))
    assert torch.equal(torch.cat([r[1] for r in read]), torch.from_numpy(y))
    assert torch.equal(batches.eval_batch('val', len(y) // 40, 40)[1], read[0][1])  # wraps round


def test_cifar10_prepare(tmp_path):
    from data.cifar10.prepare import RECORD, SPLITS, prepare
    rng = np.random.default_rng(0)
    made = {}
    with tarfile.open(tmp_path / 'cifar-10-binary.tar.gz', 'w:gz') as tar:
        for names in SPLITS.values():
            for name in names:
                raw = rng.integers(0, 256, (7, RECORD), dtype=np.uint8)
                raw[:, 0] %= 10
                made[name] = raw
                info = tarfile.TarInfo(f'cifar-10-batches-bin/{name}')
                info.size = raw.nbytes
                tar.addfile(info, io.BytesIO(raw.tobytes()))
    prepare(tmp_path, url='http://unreachable.invalid/')
    with np.load(tmp_path / 'train.npz') as f:
        assert f['x'].shape == (35, 3, 32, 32)
        first = made['data_batch_1.bin'][0]
        green = first[1 + 1024:1 + 2048].reshape(32, 32)  # a record: label, then 3 planes of pixels
        assert f['y'][0] == first[0] and np.array_equal(f['x'][0, 1], green)
    assert read_meta(tmp_path)['n_classes'] == 10


@pytest.fixture
def text_dir(tmp_path):
    write_tokens(tmp_path / 'train.bin', np.arange(5000) % 200)
    write_tokens(tmp_path / 'val.bin', np.arange(1000) % 200)
    write_meta(tmp_path, vocab_size=200)
    return tmp_path


def test_batches_are_a_function_of_the_iteration(text_dir):
    a = TextBatches(text_dir, block_size=16, batch_rows=8, seed=3)
    b = TextBatches(text_dir, block_size=16, batch_rows=8, seed=3)
    whole = a.train_chunk(5, 0, 8)
    parts = [b.train_chunk(5, c, 2) for c in range(4)]
    assert torch.equal(whole[0], torch.cat([p[0] for p in parts]))
    assert torch.equal(whole[1], torch.cat([p[1] for p in parts]))
    assert torch.equal(whole[1][:, :-1], whole[0][:, 1:])  # targets are the next tokens
    assert not torch.equal(a.train_chunk(6, 0, 8)[0], whole[0])
    assert torch.equal(a.eval_batch('val', 0, 4)[0], b.eval_batch('val', 0, 4)[0])
    assert not torch.equal(TextBatches(text_dir, 16, 8, seed=4).train_chunk(5, 0, 8)[0], whole[0])


def test_bad_token_files_are_refused(text_dir):
    (text_dir / 'odd.bin').write_bytes(b'\x01\x00\x02')
    with pytest.raises(DataError, match='not a whole number of uint16 tokens'):
        load_tokens(text_dir / 'odd.bin', 200, 2)
    with pytest.raises(DataError, match='not below its vocab_size 100'):
        load_tokens(text_dir / 'train.bin', 100, 2)
    load_tokens(text_dir / 'val.bin', 200, 998)  # 1000 tokens: 2 windows of 999
    with pytest.raises(DataError, match='holds 1000 tokens, too few for block_size 999'):
        load_tokens(text_dir / 'val.bin', 200, 999)
    with pytest.raises(DataError, match='missing'):
        load_tokens(text_dir / 'nope.bin', 200, 2)


def test_a_built_in_dataset_of_an_older_generator_is_made_again(tmp_path, monkeypatch):
    import data
    from data.synthetic_images import prepare as images
    made = []
    monkeypatch.setattr(data, 'DATA_DIR', tmp_path)
    monkeypatch.setattr(images, 'prepare', lambda folder: made.append(folder))
    folder = tmp_path / 'synthetic_images'
    folder.mkdir()
    write_meta(folder, **images.META)
    data.prepare_builtin('synthetic_images')
    assert made == []  # the current generator's files are kept
    write_meta(folder, **{**images.META, 'n_classes': 10, 'generator': 1})
    data.prepare_builtin('synthetic_images')
    assert made == [folder]
