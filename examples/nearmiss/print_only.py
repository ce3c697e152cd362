# A notice shown to users; nothing here runs a miner.
print('xmrig and stratum+tcp:// mining are not allowed on this service')
